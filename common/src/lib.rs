//! swirl-common: what every swirl server shares.
