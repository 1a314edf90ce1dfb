//! Writing a set of files into a directory all or nothing: the compiler never
//! leaves a partial artifact (a new `NAME.a` beside a stale `NAME.h`).
//!
//! The files are written into a staging directory inside the destination (same
//! file system, so renames are atomic), then renamed into place one by one, each
//! file they replace moved aside first. Any failure undoes what was done: the new
//! files are removed, the old ones put back, the staging directory deleted, and
//! the destination itself removed if this call created it.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::ArtifactError;

/// A point where publishing can fail, named for fault-injection tests.
pub(crate) type Fault<'a> = &'a mut dyn FnMut(&str) -> io::Result<()>;

/// Writes `files` (name, contents) into `dir`, creating `dir` if needed.
pub(crate) fn publish(
    dir: &Path,
    files: &[(String, Vec<u8>)],
    fault: Fault<'_>,
) -> Result<(), ArtifactError> {
    for (name, _) in files {
        let path = dir.join(name);
        if path.is_dir() {
            return Err(ArtifactError::Io {
                action: "replace",
                path,
                source: io::Error::other("it is a directory"),
            });
        }
    }
    let created = !dir.exists();
    std::fs::create_dir_all(dir).map_err(io_error("create", dir))?;
    let staging = staging_dir(dir);
    let result = std::fs::create_dir(&staging)
        .map_err(io_error("create", &staging))
        .and_then(|()| stage_and_commit(dir, &staging, files, fault));
    // The staging directory holds the replaced files after a success, the new
    // ones after a failure: either way it goes.
    let _ = std::fs::remove_dir_all(&staging);
    if result.is_err() && created {
        let _ = std::fs::remove_dir(dir);
    }
    result
}

fn staging_dir(dir: &Path) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".nnc-staging-{}-{n}", std::process::id()))
}

fn io_error<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> ArtifactError + 'a {
    move |source| ArtifactError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// What has been moved so far, to undo it.
#[derive(Default)]
struct Moves {
    /// Files now in place (the new ones).
    placed: Vec<PathBuf>,
    /// (backup, original place) of the files they replaced.
    set_aside: Vec<(PathBuf, PathBuf)>,
}

impl Moves {
    fn undo(self) {
        for path in self.placed.iter().rev() {
            let _ = std::fs::remove_file(path);
        }
        for (backup, original) in self.set_aside.iter().rev() {
            let _ = std::fs::rename(backup, original);
        }
    }
}

fn stage_and_commit(
    dir: &Path,
    staging: &Path,
    files: &[(String, Vec<u8>)],
    fault: Fault<'_>,
) -> Result<(), ArtifactError> {
    for (name, contents) in files {
        let path = staging.join(name);
        fault(&format!("write {name}")).map_err(io_error("write", &path))?;
        std::fs::write(&path, contents).map_err(io_error("write", &path))?;
    }
    let mut moves = Moves::default();
    match commit(dir, staging, files, fault, &mut moves) {
        Ok(()) => Ok(()),
        Err(err) => {
            moves.undo();
            Err(err)
        }
    }
}

fn commit(
    dir: &Path,
    staging: &Path,
    files: &[(String, Vec<u8>)],
    fault: Fault<'_>,
    moves: &mut Moves,
) -> Result<(), ArtifactError> {
    for (name, _) in files {
        let target = dir.join(name);
        if target.exists() {
            let backup = staging.join(format!("{name}.replaced"));
            fault(&format!("set aside {name}")).map_err(io_error("move", &target))?;
            std::fs::rename(&target, &backup).map_err(io_error("move", &target))?;
            moves.set_aside.push((backup, target.clone()));
        }
        fault(&format!("place {name}")).map_err(io_error("write", &target))?;
        std::fs::rename(staging.join(name), &target).map_err(io_error("write", &target))?;
        moves.placed.push(target);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::testing::scratch_dir;
    use std::collections::BTreeMap;

    /// Every file under `dir` (recursively) with its contents.
    fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut files = BTreeMap::new();
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    files.insert(path.clone(), b"<dir>".to_vec());
                    files.extend(snapshot(&path));
                } else {
                    files.insert(path.clone(), std::fs::read(&path).unwrap());
                }
            }
        }
        files
    }

    fn files(version: &str) -> Vec<(String, Vec<u8>)> {
        ["m.a", "m.h", "m.json"]
            .iter()
            .map(|name| (name.to_string(), format!("{name} {version}").into_bytes()))
            .collect()
    }

    /// Fails at the `n`-th fault point; counts the points it passes.
    fn fail_at(n: usize, seen: &mut usize) -> impl FnMut(&str) -> io::Result<()> + '_ {
        move |point| {
            *seen += 1;
            if *seen == n + 1 {
                Err(io::Error::other(format!("injected at {point}")))
            } else {
                Ok(())
            }
        }
    }

    #[test]
    fn a_failure_anywhere_leaves_the_directory_as_it_was() {
        let root = scratch_dir("publish");
        let dir = root.join("out");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("m.a"), "m.a old").unwrap();
        std::fs::write(dir.join("m.h"), "m.h old").unwrap();
        std::fs::write(dir.join("other.txt"), "kept").unwrap();
        let before = snapshot(&dir);
        let mut points = 0;
        for n in 0.. {
            let mut seen = 0;
            let result = publish(&dir, &files("new"), &mut fail_at(n, &mut seen));
            if result.is_ok() {
                points = n;
                break;
            }
            let err = result.unwrap_err().to_string();
            assert!(err.contains("injected"), "{err}");
            assert_eq!(snapshot(&dir), before, "after a failure at point {n}");
        }
        // 3 writes, 2 set-asides, 3 placements.
        assert_eq!(points, 8);
        let after = snapshot(&dir);
        assert_eq!(after.len(), 4, "{after:?}");
        assert_eq!(after[&dir.join("m.json")], b"m.json new");
        assert_eq!(after[&dir.join("m.a")], b"m.a new");
        assert_eq!(after[&dir.join("other.txt")], b"kept");
    }

    #[test]
    fn a_failure_removes_the_directory_it_created() {
        let root = scratch_dir("publish-new");
        let dir = root.join("a").join("out");
        let mut seen = 0;
        let result = publish(&dir, &files("new"), &mut fail_at(4, &mut seen));
        assert!(result.is_err());
        assert!(!dir.exists());
        publish(&dir, &files("new"), &mut |_| Ok(())).unwrap();
        assert_eq!(snapshot(&dir).len(), 3);
    }

    #[test]
    fn refuses_to_replace_a_directory() {
        let dir = scratch_dir("publish-dir");
        std::fs::create_dir(dir.join("m.h")).unwrap();
        let before = snapshot(&dir);
        let err = publish(&dir, &files("new"), &mut |_| Ok(())).unwrap_err();
        assert!(err.to_string().contains("m.h"), "{err}");
        assert_eq!(snapshot(&dir), before);
    }

    #[test]
    fn refuses_a_destination_that_is_a_file() {
        let root = scratch_dir("publish-file");
        let dir = root.join("out");
        std::fs::write(&dir, "a file").unwrap();
        assert!(publish(&dir, &files("new"), &mut |_| Ok(())).is_err());
        assert_eq!(std::fs::read(&dir).unwrap(), b"a file");
    }
}
