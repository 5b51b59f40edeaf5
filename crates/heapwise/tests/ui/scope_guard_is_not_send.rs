// A guard keeps a scope current on the thread that entered it: it cannot be
// sent to another thread (send the Scope and enter it there).
fn main() {
    let scope = heapwise::Scope::new();
    let guard = scope.enter();
    std::thread::scope(|s| {
        s.spawn(move || drop(guard));
    });
}
