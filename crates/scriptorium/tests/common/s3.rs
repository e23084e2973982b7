//! An S3 server for tests: SeaweedFS (`weed server -s3`) on loopback ports,
//! started once per test process and killed with it; every test gets a
//! bucket of its own.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use documents::config::{BlobConfig, BlobKind};

use super::process::free_port;

/// `SEAWEEDFS_WEED` (test.sh sets it), else what `install_seaweedfs`
/// unpacks under target/.
fn weed() -> PathBuf {
    let path = std::env::var_os("SEAWEEDFS_WEED")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../target/seaweedfs/weed"
            ))
        });
    assert!(
        path.is_file(),
        "{} is missing: run `source scripts/seaweedfs.sh && install_seaweedfs` (test.sh does)",
        path.display()
    );
    path
}

/// The S3 endpoint, e.g. `http://127.0.0.1:18333`.
pub fn endpoint() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(start).clone()
}

fn start() -> String {
    let weed = weed();
    let dir = std::env::temp_dir().join(format!("scriptorium-s3-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let s3 = free_port();
    let port = |name: &str| format!("-{name}={}", free_port());
    let args = vec![
        "server".to_owned(),
        format!("-dir={}", dir.display()),
        "-ip=127.0.0.1".into(),
        "-ip.bind=127.0.0.1".into(),
        port("master.port"),
        port("master.port.grpc"),
        port("volume.port"),
        port("volume.port.grpc"),
        port("filer.port"),
        port("filer.port.grpc"),
        "-s3".into(),
        format!("-s3.port={s3}"),
        port("s3.port.grpc"),
        port("s3.port.iceberg"),
        "-master.volumeSizeLimitMB=64".into(),
        "-volume.max=16".into(),
    ];
    let (tx, rx) = std::sync::mpsc::channel();
    // Spawned from a thread that lives as long as the test process, with
    // PR_SET_PDEATHSIG, so that the server dies with the process.
    std::thread::spawn(move || {
        let mut cmd = Command::new(weed);
        cmd.args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .current_dir(&dir);
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("start weed");
        tx.send(()).unwrap();
        let _keep = child;
        loop {
            std::thread::park();
        }
    });
    rx.recv().unwrap();
    format!("http://127.0.0.1:{s3}")
}

/// A new, empty bucket; blob settings that use it.
pub async fn fresh_bucket() -> BlobConfig {
    let endpoint = endpoint();
    let bucket = format!("t-{}", uuid::Uuid::new_v4().simple());
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    // CreateBucket; the server answers once its volume and filer are up.
    loop {
        match client.put(format!("{endpoint}/{bucket}")).send().await {
            Ok(r) if r.status().is_success() => break,
            other => {
                assert!(
                    Instant::now() < deadline,
                    "SeaweedFS never made a bucket: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    BlobConfig {
        kind: BlobKind::S3,
        bucket,
        endpoint: Some(endpoint),
        // SeaweedFS without identities takes any; given, so that the
        // client does not look for instance credentials.
        access_key_id: Some("scriptorium-test".to_string().into()),
        secret_access_key: Some("scriptorium-test".to_string().into()),
        ..BlobConfig::default()
    }
}
