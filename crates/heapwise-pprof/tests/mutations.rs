//! A stable-toolchain stand-in for the cargo-fuzz target (see `fuzz/`):
//! the decoder runs over many deterministic pseudo-random mutations of
//! real profiles (bit flips, byte overwrites, truncations, insertions,
//! deletions, duplicated chunks, huge varints). It must never panic, must
//! finish each input quickly, and whatever it accepts must survive an
//! encode → decode round trip unchanged.

mod common;

use std::time::{Duration, Instant};

use common::{fixture, raw_fixture, sample_profile};
use heapwise_pprof::{DecodeOptions, Profile};

/// xorshift64*: small, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const INTERESTING: [u8; 8] = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x0a, 0x12, 0x32];

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut data = input.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let len = data.len();
        match rng.below(8) {
            0 => {
                if len > 0 {
                    let i = rng.below(len);
                    data[i] ^= 1 << rng.below(8);
                }
            }
            1 => {
                if len > 0 {
                    let i = rng.below(len);
                    data[i] = INTERESTING[rng.below(INTERESTING.len())];
                }
            }
            2 => data.truncate(rng.below(len + 1)),
            3 => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                data.splice(at..at, bytes);
            }
            4 => {
                if len > 0 {
                    let at = rng.below(len);
                    let end = (at + 1 + rng.below(16)).min(len);
                    data.drain(at..end);
                }
            }
            5 => {
                if len > 0 {
                    let at = rng.below(len);
                    let end = (at + 1 + rng.below(64)).min(len);
                    let chunk = data[at..end].to_vec();
                    let to = rng.below(len + 1);
                    data.splice(to..to, chunk);
                }
            }
            6 => {
                // A huge varint (a hostile length or id) somewhere.
                let at = rng.below(len + 1);
                let huge = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
                data.splice(at..at, huge);
            }
            _ => {
                if len > 0 {
                    let i = rng.below(len);
                    data[i] = data[i].wrapping_add(1 + rng.below(3) as u8);
                }
            }
        }
    }
    data
}

fn run(seed: u64, inputs: &[Vec<u8>], cases: usize) -> (usize, usize) {
    let mut rng = Rng(seed);
    let options = DecodeOptions::new().max_decompressed_size(1 << 20);
    let (mut ok, mut err) = (0, 0);
    let mut slowest = Duration::ZERO;
    for case in 0..cases {
        let input = &inputs[rng.below(inputs.len())];
        let data = mutate(&mut rng, input);
        let start = Instant::now();
        let result = Profile::decode_with(&data, &options);
        slowest = slowest.max(start.elapsed());
        match result {
            Ok(p) => {
                ok += 1;
                let again = Profile::decode(&p.encode())
                    .unwrap_or_else(|e| panic!("case {case}: re-encoded profile fails: {e}"));
                assert_eq!(again, p, "case {case}: round trip changed the profile");
            }
            Err(e) => {
                err += 1;
                assert!(!e.to_string().is_empty());
            }
        }
    }
    assert!(
        slowest < Duration::from_secs(2),
        "slowest decode took {slowest:?}"
    );
    (ok, err)
}

#[test]
fn mutated_raw_profiles_never_panic() {
    let inputs = vec![
        raw_fixture("go_heap.pb.gz"),
        raw_fixture("go_cpu.pb.gz"),
        sample_profile().encode(),
    ];
    let (ok, err) = run(0x9e37_79b9_7f4a_7c15, &inputs, 40_000);
    eprintln!("raw mutations: {ok} decoded, {err} rejected");
    assert!(err > 0 && ok > 0);
}

#[test]
fn mutated_gzipped_profiles_never_panic() {
    let inputs = vec![
        fixture("go_heap.pb.gz"),
        fixture("go_cpu.pb.gz"),
        sample_profile().encode_gzip(),
    ];
    let (ok, err) = run(0xdead_beef_cafe_f00d, &inputs, 10_000);
    eprintln!("gzip mutations: {ok} decoded, {err} rejected");
    assert!(err > 0);
}

#[test]
fn the_kept_fuzz_corpus_replays_without_panic() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/decode");
    let options = DecodeOptions::new().max_decompressed_size(16 << 20);
    let mut count = 0;
    for entry in std::fs::read_dir(dir).expect("fuzz corpus directory") {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        if let Ok(p) = Profile::decode_with(&data, &options) {
            assert_eq!(Profile::decode(&p.encode()).unwrap(), p);
        }
        count += 1;
    }
    assert!(count >= 4, "only {count} corpus entries");
}
