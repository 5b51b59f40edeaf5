//! Synchronous tracing (go123's tracetest) of a producer and a consumer
//! sharing a bounded queue.
//!
//! The queue fires `push(item, len)` and `pop(item, len)` while it holds its
//! lock. The test traces both events with a paused
//! [`Tracer`](heapwise_probe::testing::Tracer): at each event the firing
//! thread is blocked inside it, so the queue cannot change while the test
//! checks that
//!
//! - the queue's length (read lock-free, the paused thread holds the lock)
//!   equals the event's `len`, and stays within the bound;
//! - items are popped in push order (a model queue replayed from the events);
//! - pushes come from the producer, pops from the consumer.
//!
//! ```sh
//! cargo run -p heapwise-probe --example producer_consumer
//! ```
//!
//! `tests/it/producer_consumer.rs` runs the same code as a test.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use heapwise_probe::testing::Tracer;

/// The queue's events.
pub mod events {
    heapwise_probe::declare! {
        /// `item` was pushed; the queue holds `len` items now.
        pub fn push(item: u64, len: usize);
        /// `item` was popped; the queue holds `len` items now.
        pub fn pop(item: u64, len: usize);
    }
}

/// A bounded FIFO queue: `push` waits while it is full, `pop` while it is
/// empty.
#[derive(Debug)]
pub struct Queue {
    items: Mutex<VecDeque<u64>>,
    changed: Condvar,
    capacity: usize,
    /// The length, readable without the lock (a gauge).
    len: AtomicUsize,
}

impl Queue {
    /// An empty queue of at most `capacity` items.
    pub fn new(capacity: usize) -> Queue {
        Queue {
            items: Mutex::new(VecDeque::with_capacity(capacity)),
            changed: Condvar::new(),
            capacity,
            len: AtomicUsize::new(0),
        }
    }

    /// Appends `item`, waiting while the queue is full.
    pub fn push(&self, item: u64) {
        let mut q = self.items.lock().unwrap();
        while q.len() == self.capacity {
            q = self.changed.wait(q).unwrap();
        }
        q.push_back(item);
        self.len.store(q.len(), Ordering::Relaxed);
        events::push(item, q.len()); // under the lock: in the queue's order
        drop(q);
        self.changed.notify_all();
    }

    /// Removes the oldest item, waiting while the queue is empty.
    pub fn pop(&self) -> u64 {
        let mut q = self.items.lock().unwrap();
        let item = loop {
            match q.pop_front() {
                Some(item) => break item,
                None => q = self.changed.wait(q).unwrap(),
            }
        };
        self.len.store(q.len(), Ordering::Relaxed);
        events::pop(item, q.len());
        drop(q);
        self.changed.notify_all();
        item
    }

    /// The number of items, without taking the lock.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    /// Whether the queue is empty, without taking the lock.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Runs a producer pushing `1..=n` and a consumer popping `n` items through
/// a queue of `capacity`, paused and checked at each of their events.
/// Returns the transcript, one line per event. Panics if a check fails.
pub fn run(n: u64, capacity: usize) -> Vec<String> {
    let queue = Arc::new(Queue::new(capacity));
    let tracer = Tracer::start(&[events::push::event(), events::pop::event()]);
    let q = queue.clone();
    let producer = std::thread::Builder::new()
        .name("producer".into())
        .spawn(move || (1..=n).for_each(|i| q.push(i)))
        .unwrap();
    let q = queue.clone();
    let consumer = std::thread::Builder::new()
        .name("consumer".into())
        .spawn(move || (0..n).map(|_| q.pop()).collect::<Vec<u64>>())
        .unwrap();

    let mut model = VecDeque::new();
    let mut transcript = Vec::new();
    for _ in 0..2 * n {
        let step = tracer.next(); // its thread is paused inside the event
        let item = step.arg("item").as_u64().unwrap();
        let len = step.arg("len").as_u64().unwrap() as usize;
        match step.name() {
            "push" => {
                assert_eq!(step.thread_label(), "producer");
                model.push_back(item);
            }
            "pop" => {
                assert_eq!(step.thread_label(), "consumer");
                assert_eq!(model.pop_front(), Some(item), "popped out of push order");
            }
            other => unreachable!("{other}"),
        }
        // The paused thread holds the queue's lock: nothing can change it.
        assert!(queue.items.try_lock().is_err());
        assert_eq!(queue.len(), len, "queue length at {step}");
        assert_eq!(
            model.len(),
            len,
            "length replayed from the events at {step}"
        );
        assert!(len <= capacity, "{step}: over capacity {capacity}");
        transcript.push(format!(
            "{:<9} {:<22} queue {:?}",
            step.thread_label(),
            step.to_string(),
            model
        ));
        step.resume();
    }
    tracer.expect_none(Duration::from_millis(20));
    tracer.finish();
    producer.join().unwrap();
    let popped = consumer.join().unwrap();
    assert_eq!(popped, (1..=n).collect::<Vec<_>>());
    assert!(queue.is_empty());
    transcript
}

fn main() {
    let (n, capacity) = (8, 3);
    let transcript = run(n, capacity);
    println!("producer/consumer, {n} items through a queue of {capacity}, paused at each event:");
    for line in &transcript {
        println!("  {line}");
    }
    println!(
        "ok: {} events, the queue matched every event's length, items popped in push order",
        transcript.len()
    );
}
