//! Unit tests of the ring in ordinary memory, within one process (also run under Miri).

use super::*;
use crate::wire::Header;

/// A ring in ordinary (heap) memory, for tests within one process.
struct HeapRing {
    ctl: Box<RingControl>,
    slots: Vec<u64>, // u64 for 8-byte alignment
    geo: Geometry,
}

fn heap_ring(slot_stride: usize, slot_count: usize) -> HeapRing {
    let word = || CachePadded::new(WaitWord { futex: AtomicU32::new(0), sleeping: AtomicU32::new(0) });
    let ctl = Box::new(RingControl { data_wait: word(), space_wait: word() });
    let geo = Geometry { slot_stride, slot_count };
    let mut slots = vec![0u64; slot_stride * slot_count / 8];
    // SAFETY: a u64 vector viewed as its bytes: same memory, u8 has no invalid values.
    clear(unsafe { std::slice::from_raw_parts_mut(slots.as_mut_ptr() as *mut u8, slots.len() * 8) }, geo);
    HeapRing { ctl, slots, geo }
}

fn ends(r: &mut HeapRing, may_sleep: bool) -> (Producer, Consumer) {
    let ctl: *const RingControl = &*r.ctl;
    let slots = r.slots.as_mut_ptr() as *mut u8;
    // SAFETY: the HeapRing outlives both handles in every test (so `keep` need hold
    // nothing); one handle of each kind; the ring is fresh (cleared).
    unsafe {
        (
            Producer::new(ctl, slots, r.geo, may_sleep, Arc::new(())),
            Consumer::new(ctl, slots, r.geo, may_sleep, Arc::new(())),
        )
    }
}

/// The word of slot `i`, as the other process would see it.
fn word_of(r: &HeapRing, i: usize) -> &AtomicU64 {
    // SAFETY: slot `i` of the heap ring starts 8-byte aligned inside `slots`.
    unsafe { &*((r.slots.as_ptr() as *const u8).add(i * r.geo.slot_stride) as *const AtomicU64) }
}

#[test]
fn a_full_ring_refuses_more_until_a_slot_is_released() {
    let mut r = heap_ring(64, 4);
    let (mut p, mut c) = ends(&mut r, false);
    for i in 0..4u8 {
        assert!(p.has_space());
        p.body(64)[0] = i;
        p.publish(u64::from(i));
    }
    assert!(!p.has_space(), "bounded: the fifth message must wait");
    assert!(c.has_data());
    assert_eq!(c.slot(64)[WORD_BYTES], 0);
    c.release();
    assert!(p.has_space(), "the released slot is the producer's next");
}

#[test]
fn the_message_reads_back_with_its_seq_as_the_header_and_the_slot_is_free_after_release() {
    let mut r = heap_ring(64, 2);
    let (mut p, mut c) = ends(&mut r, false);
    assert!(!c.has_data(), "a fresh ring is empty");
    p.body(64)[..8].copy_from_slice(&77u64.to_le_bytes());
    p.publish(12_345);
    assert!(c.has_data());
    assert_eq!(Header::read(c.slot(64)), Header { seq: 12_345, send_ns: 77 });
    c.release();
    assert_eq!(word_of(&r, 0).load(Ordering::Acquire), EMPTY_WORD, "released: the word says free");
    assert!(!c.has_data(), "the next slot has nothing yet");
}

#[test]
fn a_word_the_other_side_corrupts_reads_as_full_or_ready_never_as_an_overflow() {
    let mut r = heap_ring(64, 4);
    let (mut p, mut c) = ends(&mut r, false);
    // A broken peer marks the producer's next slot full: the producer must see "full".
    word_of(&r, 0).store(5, Ordering::Release);
    assert!(!p.has_space());
    // And it marks a slot nobody published as ready: the consumer lends its own slot, of the
    // length it asked for, nothing derived from the word.
    assert!(c.has_data());
    assert_eq!(c.slot(64).len(), 64);
    c.release();
    assert!(p.has_space(), "released by the consumer: free again");
    p.publish(0); // into slot 0, which the consumer has passed: never read
                  // Both ends at slot 1 now. Words of every value leave both ends' indices their own.
    for i in 0..4 {
        word_of(&r, i).store(u64::MAX - i as u64 * 3, Ordering::Release);
    }
    for _ in 0..9 {
        assert!(!p.has_space());
        assert!(c.has_data());
        assert_eq!(c.slot(64).len(), 64);
        c.release();
        assert!(p.has_space(), "the consumer freed the slot the producer is at");
        p.body(64).fill(1);
        p.publish(1);
    }
}

#[test]
fn wraps_around_in_order_with_mixed_lengths() {
    let mut r = heap_ring(128, 3);
    let (mut p, mut c) = ends(&mut r, true);
    for i in 0..1000u64 {
        let len = 9 + (i as usize % 119);
        assert!(p.has_space());
        let s = p.body(len);
        s[len - WORD_BYTES - 1] = i as u8;
        p.publish(i);
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
                let body = p.body(64);
                body[..8].copy_from_slice(&(i * 3).to_le_bytes());
                body[48..].copy_from_slice(&(!i).to_le_bytes());
                p.publish(i);
            }
        });
        for i in 0..N {
            while !c.has_data() {
                std::hint::spin_loop();
            }
            let slot = c.slot(64);
            assert_eq!(u64::from_le_bytes(slot[..8].try_into().unwrap()), i);
            assert_eq!(u64::from_le_bytes(slot[8..16].try_into().unwrap()), i * 3);
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
    p.body(64)[0] = 1;
    assert!(p.publish(1), "the producer learns the consumer sleeps");
    p.wake_consumer();
    assert_ne!(c.futex().load(Ordering::Acquire), seen, "futex word moved: a sleep on `seen` returns");
    c.done_sleeping();
    assert!(c.prepare_sleep().is_none(), "data present: do not sleep");
}

/// An exhaustive check of the wake-up protocol (the Dekker pair of a slot's word and the
/// sleeping flag), at the level the code's `SeqCst` accesses give: every interleaving of the
/// producer's and the consumer's steps, one shared-memory access each. The property: the
/// consumer never ends asleep while the message it waits for is published.
mod wake_up_model {
    /// Shared memory, and where each side is.
    #[derive(Clone, Copy, Debug, Default)]
    struct State {
        word_full: bool,
        sleeping: bool,
        futex: u32,
        /// The futex value the consumer read before announcing its sleep.
        seen: u32,
        producer_pc: u8,
        consumer_pc: u8,
        /// The producer saw the flag and will wake.
        must_wake: bool,
        asleep: bool,
    }

    /// The producer: store the word (publish), load the flag, wake if it was set (bump the
    /// futex word, then wake every sleeper on it). `None` once done.
    fn producer_step(mut s: State) -> Option<State> {
        match s.producer_pc {
            0 => s.word_full = true,
            1 => s.must_wake = s.sleeping,
            2 if s.must_wake => s.futex += 1,
            3 if s.must_wake => s.asleep = false, // FUTEX_WAKE
            2 | 3 => {}
            _ => return None,
        }
        s.producer_pc += 1;
        Some(s)
    }

    /// The consumer's `prepare_sleep` and futex wait; `announce_first` false is the broken
    /// order (check the word, then raise the flag) the test must catch.
    fn consumer_step(mut s: State, announce_first: bool) -> Option<State> {
        match (s.consumer_pc, announce_first) {
            (0, _) => s.seen = s.futex,
            (1, true) | (2, false) => s.sleeping = true,
            (2, true) | (1, false) => {
                if s.word_full {
                    s.consumer_pc = 9; // data: do not sleep
                    return Some(s);
                }
            }
            // FUTEX_WAIT: sleeps only if the word still holds what was seen.
            (3, _) => s.asleep = s.futex == s.seen,
            _ => return None,
        }
        s.consumer_pc += 1;
        Some(s)
    }

    /// Every final state reachable from the start.
    fn finals(announce_first: bool) -> Vec<State> {
        let (mut todo, mut out) = (vec![State::default()], Vec::new());
        while let Some(s) = todo.pop() {
            let next: Vec<State> =
                [producer_step(s), consumer_step(s, announce_first)].into_iter().flatten().collect();
            if next.is_empty() {
                out.push(s);
            }
            todo.extend(next);
        }
        out
    }

    #[test]
    fn no_interleaving_leaves_the_consumer_asleep_on_a_published_message() {
        let finals = finals(true);
        assert!(finals.len() > 10, "the model explores the interleavings ({} finals)", finals.len());
        for s in &finals {
            assert!(s.word_full, "the producer ran to the end");
            assert!(!s.asleep, "lost wake-up: {s:?}");
        }
        assert!(finals.iter().any(|s| s.must_wake), "some interleavings need the wake");
        assert!(finals.iter().any(|s| !s.must_wake), "and some skip the syscall");
    }

    #[test]
    fn checking_before_announcing_loses_a_wake_up_and_the_model_sees_it() {
        assert!(finals(false).iter().any(|s| s.asleep), "the broken order must be caught");
    }
}
