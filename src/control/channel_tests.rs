//! Unit tests of `channel`.
use super::*;
use std::os::unix::net::UnixStream;

fn pair() -> (Channel, Channel) {
    let (a, b) = UnixStream::pair().unwrap();
    let t = Duration::from_millis(500);
    let a2 = a.try_clone().unwrap();
    let b2 = b.try_clone().unwrap();
    (Channel::new(a.into(), a2.into(), "peer", t), Channel::new(b.into(), b2.into(), "host", t))
}

#[test]
fn messages_and_blocks_cross_intact() {
    let (mut a, mut b) = pair();
    let msg = Message::Ready { test_id: 7 };
    a.send(&msg).unwrap();
    a.send_block(&[1, 2, 3]).unwrap();
    assert_eq!(b.recv("ready").unwrap(), msg);
    assert_eq!(b.recv_block("histogram").unwrap(), vec![1, 2, 3]);
}

#[test]
fn handshake_refuses_another_protocol_version_naming_both() {
    let (mut a, mut b) = pair();
    let mut hello = Message::hello(&[0; 16], None);
    if let Message::Hello { protocol_version, .. } = &mut hello {
        *protocol_version = 99;
    }
    b.send(&hello).unwrap();
    let err = a.join_session().unwrap_err().to_string();
    assert!(err.contains("version 99") && err.contains(&format!("version {PROTOCOL_VERSION}")), "{err}");
    // And the initiator's side, from a hello without a nonce (as an older peer sends).
    let (mut a, mut b) = pair();
    let mut old = serde_json::to_value(Message::hello(&[0; 16], None)).unwrap();
    old["protocol_version"] = 5.into();
    old.as_object_mut().unwrap().remove("nonce");
    b.write_frame(KIND_JSON, &serde_json::to_vec(&old).unwrap()).unwrap();
    let err = a.initiate_session(Duration::from_millis(500), None).unwrap_err().to_string();
    assert!(err.contains("version 5"), "{err}");
}

/// Runs the handshake with the peer holding `peer_token` and the initiator expecting
/// `host_token`; returns both outcomes, and whether both sides hold the same data key.
fn session(
    peer_token: Option<&str>,
    host_token: Option<&str>,
) -> (Result<(), String>, Result<(), String>, bool) {
    let (a, b) = pair();
    let (mut host, mut peer) = (a, b.with_token(peer_token.map(str::to_string)));
    let p = std::thread::spawn(move || {
        let r = peer.join_session().map(|_| ()).map_err(|e| e.to_string());
        (r, peer)
    });
    let h =
        host.initiate_session(Duration::from_millis(500), host_token).map(|_| ()).map_err(|e| e.to_string());
    let (r, peer) = p.join().unwrap();
    let same = h.is_ok() && r.is_ok() && host.data_key(4, 1) == peer.data_key(4, 1);
    (h, r, same)
}

#[test]
fn a_session_proves_the_token_both_ways_and_yields_one_data_key_on_both_sides() {
    let (h, p, same) = session(Some("right"), Some("right"));
    assert_eq!((h, p), (Ok(()), Ok(())));
    assert!(same);
    let (h, p, same) = session(None, None);
    assert_eq!((h, p), (Ok(()), Ok(())));
    assert!(same);
    let (h, _, _) = session(None, Some("right"));
    assert!(h.unwrap_err().contains("presented no token"));
    let (h, _, _) = session(Some("wrong"), Some("right"));
    assert!(h.unwrap_err().contains("presented a wrong token"));
    let (_, p, _) = session(Some("right"), None);
    assert!(p.unwrap_err().contains("asks for no token"));
}

#[test]
fn a_replayed_handshake_is_refused() {
    // Record a good peer's hello and proof from one session...
    let (mut host, b) = pair();
    let mut peer = b.with_token(Some("secret".into()));
    let p = std::thread::spawn(move || peer.join_session().map(|_| ()));
    host.initiate_session(Duration::from_millis(500), Some("secret")).unwrap();
    p.join().unwrap().unwrap();
    let (mut host2, mut replayer) = pair();
    let mine = crate::auth::nonce().unwrap();
    // ...the eavesdropper has the peer's nonce and tag for the old challenge; the new host
    // draws another nonce, so the old tag fails.
    let old = crate::auth::Nonces { initiator: crate::auth::nonce().unwrap(), peer: mine };
    let old_tag = crate::auth::to_hex(&old.peer_tag(Some("secret")));
    let r = std::thread::spawn(move || {
        replayer.send(&Message::hello(&mine, None)).unwrap();
        let _challenge = replayer.recv("challenge").unwrap();
        replayer.send(&Message::Proof { tag: Some(old_tag) }).unwrap();
        replayer
    });
    let err = host2.initiate_session(Duration::from_millis(500), Some("secret")).unwrap_err();
    assert!(matches!(err, ControlError::TokenWrong { .. }), "{err}");
    drop(r.join().unwrap());
}

#[test]
fn no_token_travels_in_any_handshake_message() {
    use std::io::{Read, Write};
    const TOKEN: &str = "do-not-leak-4f2a";
    let t = Duration::from_secs(2);
    // host -> peer directly; peer -> host through a relay that keeps a copy of every byte.
    let (to_peer_w, to_peer_r) = UnixStream::pair().unwrap();
    let (from_peer_w, mut tap) = UnixStream::pair().unwrap();
    let (mut relay_w, to_host_r) = UnixStream::pair().unwrap();
    let (host_tx, peer_tx) = (to_peer_w, from_peer_w);
    let mut host = Channel::new(to_host_r.into(), host_tx.into(), "client", t);
    let mut peer = Channel::new(to_peer_r.into(), peer_tx.into(), "host", t).with_token(Some(TOKEN.into()));
    let relay = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 65536];
        while let Ok(n) = tap.read(&mut buf) {
            if n == 0 || relay_w.write_all(&buf[..n]).is_err() {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        seen
    });
    let p = std::thread::spawn(move || peer.join_session().map(|_| ()));
    host.initiate_session(t, Some(TOKEN)).unwrap();
    p.join().unwrap().unwrap();
    drop(host);
    let seen = relay.join().unwrap();
    let text = String::from_utf8_lossy(&seen);
    assert!(text.contains(r#""type":"proof""#), "{text}");
    assert!(!text.contains(TOKEN), "{text}");
}

#[test]
fn garbage_oversized_and_unknown_frames_are_named() {
    let (mut a, b) = pair();
    write_all(&b.tx, &[3, 0, 0, 0, KIND_JSON, b'{', b'x', b'}']).unwrap();
    assert!(matches!(a.recv("hello"), Err(ControlError::Malformed { .. })));
    write_all(&b.tx, &[0xff, 0xff, 0xff, 0x7f, KIND_JSON]).unwrap();
    assert!(matches!(a.recv("hello"), Err(ControlError::Oversized { .. })));
    let (mut a, b) = pair();
    write_all(&b.tx, &[0, 0, 0, 0, 9]).unwrap();
    let err = a.recv("hello").unwrap_err().to_string();
    assert!(err.contains("unknown frame kind 9"), "{err}");
    let (mut a, b) = pair();
    let unknown = br#"{"type":"launch-missiles"}"#;
    let mut frame = (unknown.len() as u32).to_le_bytes().to_vec();
    frame.push(KIND_JSON);
    frame.extend_from_slice(unknown);
    write_all(&b.tx, &frame).unwrap();
    let err = a.recv("ready").unwrap_err().to_string();
    assert!(err.contains("launch-missiles"), "{err}");
}

#[test]
fn silence_is_a_timeout_and_a_closed_end_is_closed() {
    let (mut a, b) = pair();
    let start = Instant::now();
    assert!(matches!(a.recv("ready"), Err(ControlError::Timeout { .. })));
    assert!(start.elapsed() < Duration::from_secs(5));
    drop(b);
    assert!(matches!(a.recv("ready"), Err(ControlError::Closed("peer"))));
}

#[test]
fn a_peer_error_message_becomes_a_remote_error() {
    let (mut a, mut b) = pair();
    b.send(&Message::Error { message: "cannot pin to CPU 9".into() }).unwrap();
    let err = a.recv("ready").unwrap_err().to_string();
    assert_eq!(err, "the peer failed: cannot pin to CPU 9");
}
