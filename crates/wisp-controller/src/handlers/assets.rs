//! `PUT /api/v1/namespaces/{ns}/actions/{name}/assets`: replaces an action's
//! read-only `/assets` directory with the contents of a tar archive.
//!
//! Only regular files and directories with plain relative paths are accepted:
//! an entry that is absolute, climbs out with `..`, or is a link or device is
//! refused, and nothing is changed.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use http::{Request, StatusCode};
use wisp_api::admin::{AssetCount, AssetsView};

use crate::Controller;
use crate::edge::extract::{self, RequestBody};
use crate::edge::respond::{self, ApiResult};
use crate::error::ApiError;
use crate::handlers::actions::deployed;

/// Replaces the action's assets with the archive in the body.
pub async fn put<B: RequestBody>(
    ctl: &Arc<Controller>,
    req: Request<B>,
    ns: &str,
    name: &str,
) -> ApiResult {
    let action = deployed(ctl, ns, name)?;
    let body = extract::whole(req, ctl.config.max_deploy_bytes, ctl.config.body_timeout).await?;
    let files = ctl.files_of(ns, name);
    let (count, bytes) = tokio::task::spawn_blocking(move || replace_assets(&files, &body))
        .await
        .map_err(ApiError::internal)??;
    ctl.publish(action.record.clone())?;
    Ok(respond::json(
        StatusCode::OK,
        &AssetsView {
            namespace: ns.to_string(),
            name: name.to_string(),
            assets: AssetCount {
                files: count,
                bytes,
            },
        },
    ))
}

/// A relative path made only of plain names.
fn safe_path(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

fn replace_assets(files: &Path, archive: &[u8]) -> Result<(usize, u64), ApiError> {
    std::fs::create_dir_all(files).map_err(ApiError::internal)?;
    let staging = tempfile::Builder::new()
        .prefix(".assets-")
        .tempdir_in(files)
        .map_err(ApiError::internal)?;
    let mut count = 0;
    let mut bytes = 0;
    let mut tar = tar::Archive::new(archive);
    let entries = tar
        .entries()
        .map_err(|e| ApiError::bad_request(format!("the assets are not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| ApiError::bad_request(format!("bad tar entry: {e}")))?;
        let raw = entry
            .path()
            .map_err(|e| ApiError::bad_request(format!("bad tar entry path: {e}")))?
            .into_owned();
        let Some(rel) = safe_path(&raw) else {
            return Err(ApiError::bad_request(format!(
                "asset path '{}' is not a plain relative path",
                raw.display()
            )));
        };
        let target = staging.path().join(&rel);
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                std::fs::create_dir_all(&target).map_err(ApiError::internal)?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(ApiError::internal)?;
                }
                let mut out = std::fs::File::create(&target).map_err(ApiError::internal)?;
                bytes += std::io::copy(&mut entry, &mut out).map_err(ApiError::internal)?;
                count += 1;
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "asset '{}' is a {other:?}; only regular files and directories are accepted",
                    raw.display()
                )));
            }
        }
    }
    // Swap the new directory in; the old one is removed afterwards.
    let assets = files.join("assets");
    let old = files.join(".assets-old");
    let _ = std::fs::remove_dir_all(&old);
    if assets.exists() {
        std::fs::rename(&assets, &old).map_err(ApiError::internal)?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, &assets).map_err(ApiError::internal)?;
    let _ = std::fs::remove_dir_all(&old);
    Ok((count, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_pass() {
        assert_eq!(
            safe_path(Path::new("a/b.txt")),
            Some(PathBuf::from("a/b.txt"))
        );
        assert_eq!(safe_path(Path::new("./a")), Some(PathBuf::from("a")));
        assert_eq!(safe_path(Path::new("../x")), None);
        assert_eq!(safe_path(Path::new("a/../../x")), None);
        assert_eq!(safe_path(Path::new("/etc/passwd")), None);
        assert_eq!(safe_path(Path::new(".")), None);
    }
}
