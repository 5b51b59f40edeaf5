//! `Scope::named()`: the live named scopes, for dashboards.

#[global_allocator]
static ALLOC: heapwise::Alloc = heapwise::Alloc::system();

use heapwise::{LimitKind, Scope};

fn names() -> Vec<String> {
    Scope::named()
        .iter()
        .filter_map(|s| s.label().map(str::to_owned))
        .collect()
}

#[test]
fn named_scopes_are_listed_once_entered_and_until_dropped() {
    let a = Scope::new()
        .name("alpha-listed")
        .limit_bytes(1 << 20)
        .hard();
    let unnamed = Scope::new();
    assert!(
        !names().contains(&"alpha-listed".to_string()),
        "not entered yet"
    );
    a.run(|_| unnamed.run(|_| ()));
    let listed = Scope::named();
    let found = listed
        .iter()
        .find(|s| s.label() == Some("alpha-listed"))
        .expect("listed");
    assert_eq!(found.limit_of(LimitKind::Bytes), Some(1 << 20));
    assert_eq!(found.limit_of(LimitKind::Calls), None);
    assert!(found.is_hard());
    assert_eq!(found.id(), a.id());
    drop(listed);
    drop(a);
    assert!(!names().contains(&"alpha-listed".to_string()), "dropped");
}

#[test]
fn many_short_lived_scopes_do_not_accumulate() {
    for i in 0..10_000 {
        let s = Scope::new().name(format!("request-{i}"));
        s.run(|_| std::hint::black_box(vec![0u8; 10]));
    }
    let keep = Scope::new().name("kept-one");
    keep.run(|_| ());
    let n = names();
    assert!(n.contains(&"kept-one".to_string()));
    assert!(
        !n.iter().any(|s| s.starts_with("request-")),
        "{} listed",
        n.len()
    );
}
