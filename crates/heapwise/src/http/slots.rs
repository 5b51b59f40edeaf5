//! Connection slots: the built-in server's cap on connections served at
//! once ([`ServeOptions::max_connections`](super::ServeOptions::max_connections)).
//!
//! A connection takes a slot when it is accepted. While it is still
//! receiving its request it may lose it to a newer connection when every
//! slot is taken, once it has waited [`DRIBBLING`] for it: the one that has
//! waited longest goes first, so clients that dribble their requests
//! cannot keep new clients out. A real client sends its request head in
//! one packet as the connection opens, so a younger connection is one
//! whose request is on its way or not read yet (its thread has not run:
//! sixty clients at once took 15 of them for dribblers); when only such
//! connections hold the slots, a new one gets a 503. Once its request is
//! in ([`Slot::serve`]) it is being served (a profile build, a delta, the
//! response) and keeps its slot until it ends.

use std::collections::VecDeque;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How long a connection may wait for its request before a newer one may
/// take its slot.
pub(super) const DRIBBLING: Duration = Duration::from_millis(250);

/// The slots of one server.
#[derive(Debug)]
pub(super) struct Slots {
    max: usize,
    /// [`DRIBBLING`], or another wait in the tests.
    dribbling: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Slots taken.
    taken: usize,
    /// The connections still receiving their request, oldest first.
    receiving: VecDeque<Arc<Receiving>>,
}

/// A connection that may lose its slot.
#[derive(Debug)]
struct Receiving {
    /// It lost its slot to a newer connection (changed under the lock).
    dropped: AtomicBool,
    /// Its socket, to wake its thread when it is dropped.
    socket: TcpStream,
    /// When it took its slot.
    since: Instant,
}

/// A connection's slot, released when dropped (unless a newer connection
/// took it over).
#[derive(Debug)]
pub(super) struct Slot {
    slots: Arc<Slots>,
    /// `None` when the socket could not be cloned (out of descriptors):
    /// such a connection is never dropped.
    conn: Option<Arc<Receiving>>,
}

impl Slots {
    pub(super) fn new(max: usize, dribbling: Duration) -> Slots {
        Slots {
            max,
            dribbling,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics under the lock; a poisoned state is still whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot for the connection on `socket`: a free one, else the one of
    /// the connection that has waited longest for the rest of its request,
    /// if that is at least the dribbling wait, which is shut for reading
    /// (its thread wakes, sees it was dropped and says so to its client).
    /// `None` when every connection is being served or has waited less.
    pub(super) fn claim(self: &Arc<Self>, socket: &TcpStream) -> Option<Slot> {
        let since = Instant::now();
        let conn = socket.try_clone().ok().map(|socket| {
            Arc::new(Receiving {
                dropped: AtomicBool::new(false),
                socket,
                since,
            })
        });
        let mut state = self.lock();
        if state.taken < self.max {
            state.taken += 1;
        } else {
            // Oldest first: if it is too young to drop, so are the others.
            let oldest = state.receiving.front()?;
            if since.saturating_duration_since(oldest.since) < self.dribbling {
                return None;
            }
            let oldest = state.receiving.pop_front()?;
            oldest.dropped.store(true, Relaxed);
            let _ = oldest.socket.shutdown(Shutdown::Read);
        }
        if let Some(conn) = &conn {
            state.receiving.push_back(Arc::clone(conn));
        }
        Some(Slot {
            slots: Arc::clone(self),
            conn,
        })
    }
}

impl Slot {
    /// The request is in: from now on the connection keeps its slot.
    /// `false` if it already lost it to a newer connection.
    pub(super) fn serve(&self) -> bool {
        let Some(conn) = &self.conn else {
            return true;
        };
        let mut state = self.slots.lock();
        if conn.dropped.load(Relaxed) {
            return false;
        }
        state.receiving.retain(|c| !Arc::ptr_eq(c, conn));
        true
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut state = self.slots.lock();
        if let Some(conn) = &self.conn {
            if conn.dropped.load(Relaxed) {
                // Its slot is the newer connection's.
                return;
            }
            state.receiving.retain(|c| !Arc::ptr_eq(c, conn));
        }
        state.taken -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn the_oldest_receiving_connection_makes_room_and_a_served_one_never() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let socket = || TcpStream::connect(addr).unwrap();
        let slots = Arc::new(Slots::new(2, Duration::from_millis(50)));
        let (a, b, c, d) = (socket(), socket(), socket(), socket());
        let served = slots.claim(&a).unwrap();
        assert!(served.serve());
        let waiting = slots.claim(&b).unwrap();
        // Full, and the receiving one has not waited long: no room.
        assert!(slots.claim(&c).is_none());
        std::thread::sleep(Duration::from_millis(60));
        // Now it has: the receiving one makes room, the served one stays.
        let newer = slots.claim(&c).unwrap();
        assert!(!waiting.serve());
        assert!(newer.serve());
        // Both taken slots are being served now: no room.
        assert!(slots.claim(&d).is_none());
        drop(waiting);
        assert!(slots.claim(&d).is_none(), "a dropped slot released twice");
        drop(newer);
        let last = slots.claim(&d).unwrap();
        drop((served, last));
        assert_eq!(slots.lock().taken, 0);
        assert!(slots.lock().receiving.is_empty());
    }
}
