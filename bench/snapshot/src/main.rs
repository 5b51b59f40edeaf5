//! Builds a heap of N blocks (`BLOCKS`, default 10 M; sizes 16..=200
//! bytes, ~1 GiB with 10 M) as a forest of linked lists hung off a global
//! table, with one list in a thousand leaked, then (with heapwise)
//! takes a snapshot and prints, one `key value` per line: the pause, the
//! capture, the analysis, the process's peak RSS before and after.
//! `--plain` builds (feature `plain`) leave the leak check to valgrind or
//! LeakSanitizer.

#[cfg(not(feature = "plain"))]
#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

use std::sync::Mutex;
use std::time::Instant;

#[allow(dead_code)] // the fields are the graph
struct Node {
    next: Option<Box<Node>>,
    _bytes: Vec<u8>,
}

static TABLE: Mutex<Vec<Option<Box<Node>>>> = Mutex::new(Vec::new());

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap_or(0)
}

fn build(blocks: usize) -> usize {
    let lists = blocks / 20;
    let mut table = TABLE.lock().unwrap();
    table.reserve_exact(lists);
    let mut leaked = 0;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for l in 0..lists {
        let mut head: Option<Box<Node>> = None;
        // 10 nodes of 2 blocks each (the node, its bytes).
        for _ in 0..10 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = 16 + (x % 160) as usize;
            head = Some(Box::new(Node { next: head, _bytes: vec![0u8; len] }));
        }
        if l % 1000 == 999 {
            std::mem::forget(head);
            leaked += 20;
        } else {
            table.push(head);
        }
    }
    leaked
}

fn main() {
    let blocks: usize = std::env::var("BLOCKS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000);
    let t = Instant::now();
    let leaked = std::thread::spawn(move || build(blocks)).join().unwrap();
    println!("build_s {:.2}", t.elapsed().as_secs_f64());
    println!("leaked_blocks {leaked}");
    println!("rss_before_kib {}", rss_kib());
    #[cfg(not(feature = "plain"))]
    {
        let t = Instant::now();
        let s = heapwise::snapshot::take().expect("snapshot (run with HEAPWISE_SNAPSHOT=1)");
        println!("take_s {:.2}", t.elapsed().as_secs_f64());
        println!("pause_ms {:.1}", s.pause().as_secs_f64() * 1e3);
        println!("blocks {}", s.graph().blocks().len());
        println!("edges {}", s.graph().edge_count());
        println!("rss_after_take_kib {}", rss_kib());
        let t = Instant::now();
        let a = s.analyze();
        println!("rss_after_analyze_kib {}", rss_kib());
        let by_site = a.retained_by_site();
        let direct = a.direct_leaks().count();
        let indirect = a.indirect_leaks().count();
        println!("analyze_s {:.2}", t.elapsed().as_secs_f64());
        println!("sites {}", by_site.len());
        println!("direct {direct}");
        println!("indirect {indirect}");
        println!("rss_after_analysis_kib {}", rss_kib());
    }
}
