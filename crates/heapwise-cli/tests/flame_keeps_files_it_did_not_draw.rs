//! `heapwise flame FILE` without `-o` writes `./flame.svg` and says so on
//! stderr, but refuses to overwrite a `flame.svg` that heapwise did not
//! draw (it recognises its own by a marker comment). An explicit `-o`
//! overwrites.

mod common;

use common::*;

#[test]
fn the_default_output_replaces_only_a_heapwise_flame_graph() {
    let dir = TempDir::new("flame-keep");
    let file = write_profile(&inline_profile(), dir.join("heap.pb.gz"));
    let target = dir.join("flame.svg");
    let flame = || {
        heapwise()
            .args(["flame", &file])
            .current_dir(dir.path())
            .output()
            .expect("running heapwise")
    };

    // Someone else's file is kept.
    let theirs = "<svg><!-- a diagram someone drew by hand --></svg>\n";
    std::fs::write(&target, theirs).unwrap();
    let o = flame();
    assert_one_error_line(
        &o,
        &["./flame.svg exists and is not a heapwise flame graph; not overwriting it"],
    );
    assert_eq!(std::fs::read_to_string(&target).unwrap(), theirs);

    // Nothing there: written, and reported.
    std::fs::remove_file(&target).unwrap();
    let o = flame();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(o.stdout.is_empty());
    assert_eq!(stderr(&o), "heapwise: wrote ./flame.svg\n");
    let first = read_svg(&target);

    // Our own graph is replaced.
    std::fs::write(&target, first.replace("app::main", "app::old_main")).unwrap();
    let o = flame();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read_to_string(&target).unwrap(), first);

    // An explicit -o is the user's choice, and is quiet.
    std::fs::write(&target, theirs).unwrap();
    let o = heapwise()
        .args(["flame", &file, "-o", "flame.svg"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success() && o.stderr.is_empty(), "{}", stderr(&o));
    assert_eq!(read_svg(&target), first);
}

/// No command writes its output over the file it read (`flame in.pb.gz -o
/// in.pb.gz` replaced the profile with its graph, as did `import
/// heaptrack` and `animate`), whatever the path's spelling.
#[test]
fn no_output_overwrites_its_input() {
    let dir = TempDir::new("output-is-input");
    let file = write_profile(&inline_profile(), dir.join("heap.pb.gz"));
    let before = std::fs::read(&file).unwrap();
    let other = dir.join("other.pb.gz");
    std::fs::write(&other, &before).unwrap();
    let other = other.to_str().unwrap();
    let aliased = dir.join(".").join("heap.pb.gz");
    let aliased = aliased.to_str().unwrap();
    for args in [
        &["flame", &file, "-o", &file][..],
        &["flame", &file, "-o", aliased],
        &["flame", other, "--base", &file, "-o", &file],
    ] {
        let o = run(args);
        assert_one_error_line(&o, &["; not overwriting it", "-o ", "that is the input "]);
        assert_eq!(std::fs::read(&file).unwrap(), before, "{args:?}");
    }
}
