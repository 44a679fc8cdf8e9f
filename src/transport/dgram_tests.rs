//! Unit tests of `dgram`.
use super::*;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Datagrams of any length and content from the other process: a message of the
    /// right size, a skipped hello-sized scrap, or a counted malformed one; never a panic.
    #[test]
    fn arbitrary_datagrams_are_messages_scraps_or_malformed(
        grams in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..12),
    ) {
        let (ours, theirs) = UnixDatagram::pair().unwrap();
        let size = 64;
        let mut t = DgramTransport::new(
            ours.into(), None, size, WaitStrategy::Spin, Duration::from_secs(1), Duration::from_millis(5),
        ).unwrap();
        let whole = grams.iter().filter(|g| g.len() == size).count();
        let malformed = grams.iter().filter(|g| g.len() >= HEADER_BYTES && g.len() != size).count();
        for g in &grams {
            theirs.send(g).unwrap();
        }
        let (mut got, mut bad) = (0, 0);
        loop {
            match t.recv() {
                Ok(m) => {
                    prop_assert_eq!(m.len(), size);
                    got += 1;
                }
                Err(TransportError::Malformed(_)) => bad += 1,
                Err(TransportError::Lost) => break,
                Err(e) => prop_assert!(false, "unexpected {:?}", e),
            }
        }
        // A longer datagram is malformed, not a message with its tail cut off.
        prop_assert_eq!(got, whole);
        prop_assert_eq!(bad, malformed);
    }
}
