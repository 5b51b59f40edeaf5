//! Where `heapwise run`'s files go: `%p` patterns and what matches them.

use std::path::{Path, PathBuf};

/// `path` itself if it has a `%p`, else with `.%p` inserted before its
/// extension (`.pb.gz` counts as one): `heap.pb.gz` is `heap.%p.pb.gz`.
pub(super) fn with_pid(path: &Path) -> PathBuf {
    let text = path.as_os_str().to_string_lossy();
    if text.contains("%p") {
        return path.to_path_buf();
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (stem, extension) = match name.strip_suffix(".pb.gz") {
        Some(stem) => (stem, ".pb.gz"),
        None => match name.rsplit_once('.') {
            Some((stem, _)) if !stem.is_empty() => (stem, &name[stem.len()..]),
            _ => (name.as_str(), ""),
        },
    };
    path.with_file_name(format!("{stem}.%p{extension}"))
}

/// `path` with each `%p` replaced by `pid`.
pub(super) fn expand(path: &Path, pid: i32) -> PathBuf {
    match path.to_str() {
        Some(s) => PathBuf::from(s.replace("%p", &pid.to_string())),
        None => path.to_path_buf(),
    }
}

/// The snapshot's path beside the profile's: `.pb.gz` (or the whole
/// extension) replaced by `.heapsnapshot`.
pub(super) fn snapshot_path(profile: &Path) -> PathBuf {
    let name = profile
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name
        .strip_suffix(".pb.gz")
        .or_else(|| name.rsplit_once('.').map(|(s, _)| s))
        .unwrap_or(&name);
    profile.with_file_name(format!("{stem}.heapsnapshot"))
}

/// How many files other than `main` match the `%p` pattern `output` and
/// were written since `since` (the program's children's profiles).
pub(super) fn others_written(output: &Path, main: &Path, since: std::time::SystemTime) -> usize {
    let (Some(dir), Some(name)) = (output.parent(), output.file_name().and_then(|n| n.to_str()))
    else {
        return 0;
    };
    let Some((pre, post)) = name.split_once("%p") else {
        return 0;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path() != main)
        .filter(|e| {
            e.file_name().to_str().is_some_and(|n| {
                n.strip_prefix(pre)
                    .and_then(|rest| rest.strip_suffix(post))
                    .is_some_and(|pid| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
            })
        })
        .filter(|e| {
            e.metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= since)
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_without_pid_gets_one_before_its_extension() {
        for (given, with) in [
            ("/t/heap.pb.gz", "/t/heap.%p.pb.gz"),
            ("/t/heap.prof", "/t/heap.%p.prof"),
            ("/t/heap", "/t/heap.%p"),
            ("/t/.hidden", "/t/.hidden.%p"),
            ("/t/h.%p.pb.gz", "/t/h.%p.pb.gz"),
            ("/t/%p/heap.pb.gz", "/t/%p/heap.pb.gz"),
        ] {
            assert_eq!(with_pid(Path::new(given)), Path::new(with), "{given}");
        }
    }

    #[test]
    fn the_childrens_profiles_are_counted_by_the_pattern() {
        let dir = std::env::temp_dir().join(format!("heapwise-run-others-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let since = std::time::SystemTime::now() - std::time::Duration::from_secs(1);
        for name in [
            "h.10.pb.gz",
            "h.11.pb.gz",
            "h.12.pb.gz",
            "h.x.pb.gz",
            "h..pb.gz",
            "other.pb.gz",
        ] {
            std::fs::write(dir.join(name), b"").unwrap();
        }
        let pattern = dir.join("h.%p.pb.gz");
        assert_eq!(others_written(&pattern, &dir.join("h.10.pb.gz"), since), 2);
        // Without %p there is one file only.
        assert_eq!(
            others_written(&dir.join("h.pb.gz"), &dir.join("h.pb.gz"), since),
            0
        );
        // Files from before the run are not counted.
        let later = std::time::SystemTime::now() + std::time::Duration::from_secs(60);
        assert_eq!(others_written(&pattern, &dir.join("h.10.pb.gz"), later), 0);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn percent_p_is_the_pid() {
        assert_eq!(
            expand(Path::new("/t/heapwise.%p.pb.gz"), 7),
            Path::new("/t/heapwise.7.pb.gz")
        );
    }
}
