//! Tests of the mapped region: header checks, exclusive creation, stale files, memfds.

use super::*;

#[test]
fn attach_refuses_a_header_that_does_not_match() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.shm");
    let _r = Region::create(&path, 64, 8, 0o600).unwrap();
    let t = Duration::from_secs(1);
    let err = Region::attach(&path, 128, 8, t).err().unwrap().to_string();
    assert!(err.contains("slot size is 64, expected 128"), "{err}");
    let err = Region::attach(&path, 64, 16, t).err().unwrap().to_string();
    assert!(err.contains("slot count is 8, expected 16"), "{err}");
    let first = Region::attach(&path, 64, 8, t).unwrap();
    let err = Region::attach(&path, 64, 8, t).err().unwrap().to_string();
    assert!(err.contains("already attached by process"), "a second consumer is refused: {err}");
    drop(first);
    let other = dir.path().join("junk");
    std::fs::write(&other, vec![7u8; 8192]).unwrap();
    let err = Region::attach(&other, 64, 8, t).err().unwrap().to_string();
    assert!(err.contains("not initialised") || err.contains("not an ipcbench"), "{err}");
}

#[test]
fn creation_is_exclusive_private_and_never_follows_a_symlink() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.shm");
    let r = Region::create(&path, 64, 2, 0o600).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    let err = Region::create(&path, 64, 2, 0o600).err().unwrap().to_string();
    assert!(err.contains("in use"), "a live creator's file is not replaced: {err}");
    drop(r);
    assert!(!path.exists(), "the creator removes its file");
    let target = dir.path().join("target");
    std::fs::write(&target, b"precious").unwrap();
    std::os::unix::fs::symlink(&target, &path).unwrap();
    let err = Region::create(&path, 64, 2, 0o600).err().unwrap().to_string();
    assert!(err.contains("in use") || err.contains("symlink"), "{err}");
    let err = Region::attach(&path, 64, 2, Duration::from_millis(50)).err().unwrap().to_string();
    assert!(err.contains("symlink"), "{err}");
    assert_eq!(std::fs::read(&target).unwrap(), b"precious");
}

#[test]
fn a_memfd_region_is_sealed_attached_once_and_an_unsealed_one_is_refused() {
    let t = Duration::from_secs(1);
    let (_r, fd) = Region::create_memfd(64, 4).unwrap();
    let seals = rustix::fs::fcntl_get_seals(&fd).unwrap();
    assert!(seals
        .contains(rustix::fs::SealFlags::SHRINK | rustix::fs::SealFlags::GROW | rustix::fs::SealFlags::SEAL));
    // Nobody can shrink it now: not even its creator.
    assert!(File::from(fd.try_clone().unwrap()).set_len(4096).is_err());
    let err = Region::attach_memfd(fd.try_clone().unwrap(), 128, 4, t).err().unwrap().to_string();
    assert!(err.contains("memfd: header mismatch: slot size is 64, expected 128"), "{err}");
    let first = Region::attach_memfd(fd.try_clone().unwrap(), 64, 4, t).unwrap();
    let err = Region::attach_memfd(fd, 64, 4, t).err().unwrap().to_string();
    assert!(err.contains("already attached"), "{err}");
    drop(first);
    let open = rustix::fs::memfd_create("x", rustix::fs::MemfdFlags::ALLOW_SEALING).unwrap();
    File::from(open.try_clone().unwrap()).set_len(8192).unwrap();
    let err = Region::attach_memfd(open, 64, 4, t).err().unwrap().to_string();
    assert!(err.contains("not sealed against resizing"), "{err}");
}

#[test]
fn a_file_left_by_a_dead_creator_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.shm");
    let r = Region::create(&path, 64, 2, 0o600).unwrap();
    let bytes = r.map.to_vec();
    drop(r);
    let mut bytes = bytes;
    let off = std::mem::offset_of!(RegionHeader, creator_pid);
    bytes[off..off + 4].copy_from_slice(&2_147_483_600u32.to_le_bytes()); // no such process
    std::fs::write(&path, &bytes).unwrap();
    let r = Region::create(&path, 64, 2, 0o600).unwrap();
    assert_eq!(r.creator_pid(), std::process::id());
}
