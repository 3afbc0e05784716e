//! Finding a peer that went silent (its link cut, its host gone) within a
//! bounded time on a long-lived connection, whatever the exchange is doing.
//!
//! An application timeout cannot tell a peer that is busy (hashing a large
//! partition before it answers) from one that is gone. The kernel can: a
//! live peer acknowledges every segment at once, however busy its process.
//! So the connection sends keepalive probes while idle, and
//! `TCP_USER_TIMEOUT` closes it once sent data or probes stay
//! unacknowledged for `timeout`; the next read or write then fails.

use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};

/// Gives `tcp` the dead-peer detection described above: it fails about
/// `timeout` (at least one second) after its peer stopped acknowledging.
pub fn detect_within(tcp: &tokio::net::TcpStream, timeout: Duration) -> std::io::Result<()> {
    let timeout = timeout.max(Duration::from_secs(1));
    let s = SockRef::from(tcp);
    // Probes start once the connection has been idle a fifth of the
    // timeout, so an idle pooled connection to a vanished peer dies too.
    let idle = (timeout / 5).max(Duration::from_secs(1));
    let probes = TcpKeepalive::new()
        .with_time(idle)
        .with_interval(Duration::from_secs(1))
        .with_retries(timeout.as_secs().clamp(1, 60) as u32);
    s.set_tcp_keepalive(&probes)?;
    s.set_tcp_user_timeout(Some(timeout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn options_are_set() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let c = tokio::net::TcpStream::connect(l.local_addr().unwrap())
            .await
            .unwrap();
        detect_within(&c, Duration::from_secs(7)).unwrap();
        let s = SockRef::from(&c);
        assert!(s.keepalive().unwrap());
        assert_eq!(s.tcp_user_timeout().unwrap(), Some(Duration::from_secs(7)));
        assert_eq!(s.tcp_keepalive_time().unwrap(), Duration::from_secs(1));
    }
}
