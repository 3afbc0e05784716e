//! Removing what a handoff pushed once the primaries confirmed it: only the
//! files that were offered and confirmed (a write that reached this handoff
//! meanwhile stays, for the next pass), then empty hash and suffix
//! directories, and the partition itself once nothing is left in it and no
//! write has marked a suffix since (checked under the partition lock).

use std::io;
use std::path::Path;

use swirl_common::Timestamp;

use super::offer::list_suffixes;
use crate::object::layout::suffix_of;
use crate::object::{classify, hashes};

/// Removes the confirmed `(hash, files)` of a partition directory. Returns
/// the objects removed and whether the partition directory is gone.
pub fn remove_confirmed(
    part_dir: &Path,
    confirmed: &[(String, Vec<String>)],
    reclaim_age: u64,
) -> io::Result<(u64, bool)> {
    let mut removed = 0;
    let mut suffixes: Vec<String> = Vec::new();
    for (hash, files) in confirmed {
        let sfx = suffix_of(hash).to_string();
        let dir = part_dir.join(&sfx).join(hash);
        for f in files {
            match std::fs::remove_file(dir.join(f)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        remove_orphan_metas(&dir)?;
        if std::fs::remove_dir(&dir).is_ok() {
            removed += 1;
        }
        if !suffixes.contains(&sfx) {
            suffixes.push(sfx);
        }
    }
    // Rehashing the touched suffixes drops the empty ones.
    hashes::get_hashes(part_dir, &suffixes, Timestamp::now(), reclaim_age)?;
    let gone = remove_if_empty(part_dir)?;
    Ok((removed, gone))
}

/// Once the confirmed files are gone, `.meta` files left with no `.data` and
/// no tombstone describe nothing that can be served (a POST needs data, and
/// the data they belonged to was superseded by a tombstone the primaries now
/// hold). Swift removes the whole hash directory of an object in sync; this
/// removes them too, but keeps any `.data` or tombstone that arrived since.
fn remove_orphan_metas(dir: &Path) -> io::Result<()> {
    let names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let c = classify::classify(&names);
    if c.data.is_some() || c.tombstone.is_some() || !c.unexpected.is_empty() {
        return Ok(());
    }
    let metas = c.possible_reclaim.iter().map(|m| &m.name);
    for name in metas.chain(&c.obsolete) {
        match std::fs::remove_file(dir.join(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Removes a partition directory holding no suffix directory, unless a
/// write marked a suffix in it meanwhile.
pub fn remove_if_empty(part_dir: &Path) -> io::Result<bool> {
    if !part_dir.is_dir() {
        return Ok(true);
    }
    let _lock = hashes::lock_partition(part_dir)?;
    if !list_suffixes(part_dir)?.is_empty() {
        return Ok(false);
    }
    let invalid = std::fs::read_to_string(part_dir.join("hashes.invalid")).unwrap_or_default();
    if !invalid.trim().is_empty() {
        return Ok(false);
    }
    std::fs::remove_dir_all(part_dir)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_confirmed_files_go() {
        let d = tempfile::tempdir().unwrap();
        let part = d.path().join("objects/9");
        let h1 = "00000000000000000000000000000abc";
        let h2 = "00000000000000000000000000000def";
        for h in [h1, h2] {
            let dir = part.join(suffix_of(h)).join(h);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("1700000001.00000.data"), b"").unwrap();
        }
        // A newer write to h1 arrived after the offer: it stays.
        std::fs::write(part.join("abc").join(h1).join("1700000002.00000.data"), b"").unwrap();
        let conf = vec![
            (h1.to_string(), vec!["1700000001.00000.data".to_string()]),
            (h2.to_string(), vec!["1700000001.00000.data".to_string()]),
        ];
        let (n, gone) = remove_confirmed(&part, &conf, 604_800).unwrap();
        assert_eq!((n, gone), (1, false));
        assert!(part
            .join("abc")
            .join(h1)
            .join("1700000002.00000.data")
            .exists());
        assert!(!part.join("def").exists());
        let conf = vec![(h1.to_string(), vec!["1700000002.00000.data".to_string()])];
        assert_eq!(remove_confirmed(&part, &conf, 604_800).unwrap(), (1, true));
        assert!(!part.exists());
    }

    #[test]
    fn a_meta_left_without_data_goes_with_its_confirmed_tombstone() {
        let d = tempfile::tempdir().unwrap();
        let part = d.path().join("objects/9");
        let h = "00000000000000000000000000000abc";
        let dir = part.join(suffix_of(h)).join(h);
        std::fs::create_dir_all(&dir).unwrap();
        // A POST newer than the DELETE, kept (as Swift does) until reclaim.
        std::fs::write(dir.join("1700000001.00000.ts"), b"").unwrap();
        std::fs::write(dir.join("1700000002.00000.meta"), b"").unwrap();
        let conf = vec![(h.to_string(), vec!["1700000001.00000.ts".to_string()])];
        assert_eq!(remove_confirmed(&part, &conf, 604_800).unwrap(), (1, true));
        assert!(!part.exists());
        // A .data that arrived after the offer keeps its .meta.
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("1700000001.00000.ts"), b"").unwrap();
        std::fs::write(dir.join("1700000003.00000.data"), b"").unwrap();
        std::fs::write(dir.join("1700000004.00000.meta"), b"").unwrap();
        assert_eq!(remove_confirmed(&part, &conf, 604_800).unwrap(), (0, false));
        assert!(dir.join("1700000004.00000.meta").exists());
    }
}
