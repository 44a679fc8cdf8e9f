//! Unit tests of the ring in ordinary memory, within one process (also run under Miri).

use super::*;

/// A ring in ordinary (heap) memory, for tests within one process.
struct HeapRing {
    ctl: Box<RingControl>,
    slots: Vec<u64>, // u64 for 8-byte alignment
    geo: Geometry,
}

fn heap_ring(slot_stride: usize, slot_count: usize) -> HeapRing {
    let word = || CachePadded::new(WaitWord { futex: AtomicU32::new(0), sleeping: AtomicU32::new(0) });
    let ctl = Box::new(RingControl {
        head: CachePadded::new(AtomicU64::new(0)),
        tail: CachePadded::new(AtomicU64::new(0)),
        data_wait: word(),
        space_wait: word(),
    });
    HeapRing { ctl, slots: vec![0; slot_stride * slot_count / 8], geo: Geometry { slot_stride, slot_count } }
}

fn ends(r: &mut HeapRing, may_sleep: bool) -> (Producer, Consumer) {
    let ctl: *const RingControl = &*r.ctl;
    let slots = r.slots.as_mut_ptr() as *mut u8;
    // SAFETY: the HeapRing outlives both handles in every test (so `keep` need hold
    // nothing); one handle of each kind.
    unsafe {
        (
            Producer::new(ctl, slots, r.geo, may_sleep, Arc::new(())),
            Consumer::new(ctl, slots, r.geo, may_sleep, Arc::new(())),
        )
    }
}

#[test]
fn a_full_ring_refuses_more_until_a_slot_is_released() {
    let mut r = heap_ring(64, 4);
    let (mut p, mut c) = ends(&mut r, false);
    for i in 0..4u8 {
        assert!(p.has_space());
        p.slot(64)[0] = i;
        p.publish();
    }
    assert!(!p.has_space(), "bounded: the fifth message must wait");
    assert!(c.has_data());
    assert_eq!(c.slot(64)[0], 0);
    c.release();
    assert!(p.has_space());
}

#[test]
fn a_counter_the_other_side_corrupts_reads_as_full_or_ready_never_as_an_overflow() {
    let mut r = heap_ring(64, 4);
    let (mut p, mut c) = ends(&mut r, false);
    for _ in 0..4 {
        assert!(p.has_space());
        p.publish();
    }
    // A broken peer moves `tail` ahead of `head`: the producer, re-reading it because its
    // cache says full, must see "full", not panic on the subtraction (debug builds check
    // overflow) or lend an out-of-range slot.
    r.ctl.tail.store(1_000, Ordering::Release);
    assert!(!p.has_space());
    // And `head` set to anything makes the consumer's slot index still its own.
    r.ctl.head.store(u64::MAX, Ordering::Release);
    assert!(c.has_data());
    assert_eq!(c.slot(64).len(), 64);
}

#[test]
fn wraps_around_in_order_with_mixed_lengths() {
    let mut r = heap_ring(128, 3);
    let (mut p, mut c) = ends(&mut r, true);
    for i in 0..1000u64 {
        let len = 9 + (i as usize % 119);
        assert!(p.has_space());
        let s = p.slot(len);
        s[..8].copy_from_slice(&i.to_le_bytes());
        s[len - 1] = i as u8;
        p.publish();
        assert!(c.has_data());
        let got = c.slot(len);
        assert_eq!(u64::from_le_bytes(got[..8].try_into().unwrap()), i);
        assert_eq!(got[len - 1], i as u8);
        c.release();
        assert!(!c.has_data());
    }
}

#[test]
fn concurrent_producer_and_consumer_keep_order_and_content() {
    const N: u64 = if cfg!(miri) { 2_000 } else { 2_000_000 };
    let mut r = heap_ring(64, 8);
    let (mut p, mut c) = ends(&mut r, false);
    std::thread::scope(|s| {
        s.spawn(move || {
            for i in 0..N {
                while !p.has_space() {
                    std::hint::spin_loop();
                }
                let slot = p.slot(64);
                slot[..8].copy_from_slice(&i.to_le_bytes());
                slot[56..].copy_from_slice(&(!i).to_le_bytes());
                p.publish();
            }
        });
        for i in 0..N {
            while !c.has_data() {
                std::hint::spin_loop();
            }
            let slot = c.slot(64);
            assert_eq!(u64::from_le_bytes(slot[..8].try_into().unwrap()), i);
            assert_eq!(u64::from_le_bytes(slot[56..].try_into().unwrap()), !i);
            c.release();
        }
    });
}

#[test]
#[cfg_attr(
    miri,
    ignore = "rustix passes the futex word as *const AtomicU32, which Miri's syscall check rejects"
)]
fn a_sleeping_side_is_announced_to_the_other() {
    let mut r = heap_ring(64, 1);
    let (mut p, mut c) = ends(&mut r, true);
    let seen = c.prepare_sleep().expect("empty ring: sleep");
    assert!(p.has_space());
    p.slot(64)[0] = 1;
    assert!(p.publish(), "the producer learns the consumer sleeps");
    p.wake_consumer();
    assert_ne!(c.futex().load(Ordering::Acquire), seen, "futex word moved: a sleep on `seen` returns");
    c.done_sleeping();
    assert!(c.prepare_sleep().is_none(), "data present: do not sleep");
}
