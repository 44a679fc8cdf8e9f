//! One libzmq message (`zmq_msg_t`) held across failed sends.
//!
//! The zmq crate's `Message` is consumed by `Socket::send` even when a non-blocking send fails
//! (the high-water mark was reached), so a message could not be retried, and an echo could not
//! send back the very message it received. This wrapper owns the `zmq_msg_t` itself and calls
//! libzmq's `zmq_msg_send`/`zmq_msg_recv`, which keep a message whose send failed unchanged and
//! empty it (ownership passes to libzmq, no copy) once it is sent. Every raw libzmq call of
//! the transport is here.

#![allow(unsafe_code)]

use std::os::raw::c_void;

/// A libzmq message, empty or holding bytes.
pub(super) struct Msg(zmq_sys::zmq_msg_t);

// SAFETY: a `zmq_msg_t` is plain data owned by this value alone; libzmq's shared message
// contents are reference-counted with atomics, so a message may be used and closed on any
// thread.
unsafe impl Send for Msg {}

/// The result of a libzmq call that returns -1 and sets `zmq_errno` on failure.
fn check(rc: i32) -> Result<(), zmq::Error> {
    if rc == -1 {
        // SAFETY: reads libzmq's thread-local errno; no arguments.
        Err(zmq::Error::from_raw(unsafe { zmq_sys::zmq_errno() }))
    } else {
        Ok(())
    }
}

impl Msg {
    /// An empty message.
    pub(super) fn new() -> Msg {
        let mut m = zmq_sys::zmq_msg_t::default();
        // SAFETY: `m` is a `zmq_msg_t` that is not initialised yet; `zmq_msg_init` cannot fail.
        unsafe { zmq_sys::zmq_msg_init(&mut m) };
        Msg(m)
    }

    /// A message holding a copy of `bytes`: libzmq allocates it (`zmq_msg_init_size`, inline
    /// for up to 33 bytes), and the bytes are copied in once.
    pub(super) fn copy_of(bytes: &[u8]) -> Result<Msg, zmq::Error> {
        let mut m = zmq_sys::zmq_msg_t::default();
        // SAFETY: `m` is a `zmq_msg_t` that is not initialised yet.
        check(unsafe { zmq_sys::zmq_msg_init_size(&mut m, bytes.len()) })?;
        let mut msg = Msg(m);
        if !bytes.is_empty() {
            // SAFETY:
            // - `zmq_msg_data` points at the `bytes.len()` bytes `zmq_msg_init_size` allocated;
            // - they belong to this message alone and cannot overlap `bytes`.
            unsafe {
                let data = zmq_sys::zmq_msg_data(&mut msg.0) as *mut u8;
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), data, bytes.len());
            }
        }
        Ok(msg)
    }

    /// The message's bytes.
    pub(super) fn bytes(&mut self) -> &[u8] {
        // SAFETY: `self.0` is initialised; `zmq_msg_size` only reads it.
        let len = unsafe { zmq_sys::zmq_msg_size(&self.0) };
        if len == 0 {
            return &[];
        }
        // SAFETY:
        // - `zmq_msg_data` points at the message's `len` initialised bytes (received, or copied
        //   in by `copy_of`), which live until the message is closed, sent or received into;
        // - all three need `&mut self`, so they cannot happen while the slice is borrowed.
        unsafe { std::slice::from_raw_parts(zmq_sys::zmq_msg_data(&mut self.0) as *const u8, len) }
    }

    /// Sends the message on `socket` with `flags`. On success the message is empty (libzmq
    /// took its contents); on failure it is unchanged, to be sent again.
    pub(super) fn send(&mut self, socket: &mut zmq::Socket, flags: i32) -> Result<(), zmq::Error> {
        // SAFETY: `self.0` is initialised and `socket.as_mut_ptr()` is a live socket, which
        // the `&mut` borrow keeps open for the call.
        check(unsafe { zmq_sys::zmq_msg_send(&mut self.0, socket.as_mut_ptr() as *mut c_void, flags) })
    }

    /// Receives the next message on `socket` into this one (its old contents released).
    pub(super) fn recv(&mut self, socket: &mut zmq::Socket, flags: i32) -> Result<(), zmq::Error> {
        // SAFETY: as in `send`.
        check(unsafe { zmq_sys::zmq_msg_recv(&mut self.0, socket.as_mut_ptr() as *mut c_void, flags) })
    }
}

impl Drop for Msg {
    fn drop(&mut self) {
        // SAFETY: `self.0` is initialised and closed only here; closing cannot fail for a
        // valid message.
        unsafe { zmq_sys::zmq_msg_close(&mut self.0) };
    }
}
