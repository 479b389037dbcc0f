//! [`ObjectStoreArchive`]: recordings spooled locally while sessions run and
//! uploaded to an object store (S3-compatible) when they finish.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _, WriteMultipart};
use tokio::io::AsyncReadExt as _;

use crate::store::{validate_session, FileStore, RecordingInfo, RecordingStore};
use crate::RecordError;

/// Recordings up to this size are uploaded in one request; larger ones in
/// parts of this size, read from the spool file a part at a time.
const PART_BYTES: usize = 8 * 1024 * 1024;
/// Parts in flight at once during a multipart upload.
const PARTS_IN_FLIGHT: usize = 2;

/// An archive of recordings in an object store, with a local [`FileStore`]
/// as the spool.
///
/// Appends go to the spool file, so a running session's recording is
/// streamed to local disk and readable up to a crash. [`RecordingStore::finish`]
/// uploads the finished file to `<prefix>/<session>.jsonl` in the object
/// store and then deletes the local copy; if the upload fails the spool file
/// stays, and calling `finish` again retries it. [`RecordingStore::read`],
/// [`RecordingStore::list`] and [`RecordingStore::delete`] consult both
/// places, the spool first.
pub struct ObjectStoreArchive {
    spool: FileStore,
    store: Arc<dyn ObjectStore>,
    prefix: String,
}

impl fmt::Debug for ObjectStoreArchive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStoreArchive")
            .field("spool", &self.spool)
            .field("store", &self.store.to_string())
            .field("prefix", &self.prefix)
            .finish()
    }
}

fn store_error(e: object_store::Error) -> RecordError {
    RecordError::ObjectStore(Box::new(e))
}

impl ObjectStoreArchive {
    /// An archive uploading into `store` under `prefix` (a `/`-separated
    /// path, empty for the store's root).
    pub fn new(spool: FileStore, store: Arc<dyn ObjectStore>, prefix: &str) -> ObjectStoreArchive {
        ObjectStoreArchive {
            spool,
            store,
            prefix: prefix.trim_matches('/').to_owned(),
        }
    }

    /// An archive in an S3-compatible bucket. Settings not given in `config`
    /// come from the environment (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`,
    /// `AWS_ENDPOINT`, ...), as the AWS tools read them.
    pub fn s3(spool: FileStore, config: &S3Config) -> Result<ObjectStoreArchive, RecordError> {
        let mut builder =
            object_store::aws::AmazonS3Builder::from_env().with_bucket_name(&config.bucket);
        if let Some(region) = &config.region {
            builder = builder.with_region(region);
        }
        if let Some(endpoint) = &config.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(key) = &config.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &config.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        if let Some(token) = &config.session_token {
            builder = builder.with_token(token);
        }
        if config.allow_http {
            builder = builder.with_allow_http(true);
        }
        let store = builder.build().map_err(store_error)?;
        Ok(ObjectStoreArchive::new(
            spool,
            Arc::new(store),
            &config.prefix,
        ))
    }

    /// The local spool.
    pub fn spool(&self) -> &FileStore {
        &self.spool
    }

    fn location(&self, session: &str) -> Result<ObjectPath, RecordError> {
        validate_session(session)?;
        let name = format!("{session}.jsonl");
        Ok(ObjectPath::from(self.prefix.as_str()).join(name.as_str()))
    }

    async fn archived(&self, location: &ObjectPath) -> Result<bool, RecordError> {
        match self.store.head(location).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(store_error(e)),
        }
    }

    /// Uploads the spool file at `path` to `location`.
    async fn upload(
        &self,
        path: &std::path::Path,
        location: &ObjectPath,
    ) -> Result<(), RecordError> {
        let context = || format!("reading {}", path.display());
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(|e| RecordError::io(context(), e))?;
        let size = file
            .metadata()
            .await
            .map_err(|e| RecordError::io(context(), e))?
            .len();
        if size <= PART_BYTES as u64 {
            let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            file.read_to_end(&mut bytes)
                .await
                .map_err(|e| RecordError::io(context(), e))?;
            self.store
                .put(location, bytes.into())
                .await
                .map_err(store_error)?;
            return Ok(());
        }
        let upload = self
            .store
            .put_multipart(location)
            .await
            .map_err(store_error)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut buf = vec![0_u8; PART_BYTES];
        loop {
            let read = match file.read(&mut buf).await {
                Ok(0) => break,
                Ok(read) => read,
                Err(e) => {
                    let _ = writer.abort().await;
                    return Err(RecordError::io(context(), e));
                }
            };
            if let Err(e) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                let _ = writer.abort().await;
                return Err(store_error(e));
            }
            writer.write(&buf[..read]);
        }
        writer.finish().await.map_err(store_error)?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl RecordingStore for ObjectStoreArchive {
    async fn append(&self, session: &str, bytes: &[u8]) -> Result<(), RecordError> {
        self.spool.append(session, bytes).await
    }

    async fn finish(&self, session: &str) -> Result<(), RecordError> {
        let location = self.location(session)?;
        let path = self.spool.path(session)?;
        if !self.spool.contains(session).await? {
            // Already uploaded (a retried finish) or never recorded.
            return if self.archived(&location).await? {
                Ok(())
            } else {
                Err(RecordError::NotFound(session.to_owned()))
            };
        }
        self.upload(&path, &location).await?;
        self.spool.delete(session).await?;
        Ok(())
    }

    async fn read(&self, session: &str) -> Result<Vec<u8>, RecordError> {
        match self.spool.read(session).await {
            Err(RecordError::NotFound(_)) => {}
            other => return other,
        }
        let location = self.location(session)?;
        match self.store.get(&location).await {
            Ok(result) => Ok(result.bytes().await.map_err(store_error)?.to_vec()),
            Err(object_store::Error::NotFound { .. }) => {
                Err(RecordError::NotFound(session.to_owned()))
            }
            Err(e) => Err(store_error(e)),
        }
    }

    async fn list(&self) -> Result<Vec<RecordingInfo>, RecordError> {
        let mut out = self.spool.list().await?;
        let prefix = (!self.prefix.is_empty()).then(|| ObjectPath::from(self.prefix.as_str()));
        let listing = self
            .store
            .list_with_delimiter(prefix.as_ref())
            .await
            .map_err(store_error)?;
        for object in listing.objects {
            let Some(session) = object
                .location
                .filename()
                .and_then(|f| f.strip_suffix(".jsonl"))
            else {
                continue;
            };
            if validate_session(session).is_err() {
                continue;
            }
            let modified = system_time(
                object.last_modified.timestamp(),
                object.last_modified.timestamp_subsec_nanos(),
            );
            match out.iter_mut().find(|info| info.session == session) {
                // In both places (the spool copy's delete failed after an
                // upload): one entry, the spool's, last modified as the later.
                Some(info) => info.modified = info.modified.max(modified),
                None => out.push(RecordingInfo {
                    session: session.to_owned(),
                    bytes: object.size,
                    modified,
                    archived: true,
                }),
            }
        }
        out.sort_by(|a, b| a.session.cmp(&b.session));
        Ok(out)
    }

    async fn delete(&self, session: &str) -> Result<bool, RecordError> {
        let location = self.location(session)?;
        let local = self.spool.delete(session).await?;
        let remote = self.archived(&location).await?;
        if remote {
            self.store.delete(&location).await.map_err(store_error)?;
        }
        Ok(local || remote)
    }
}

fn system_time(secs: i64, nanos: u32) -> SystemTime {
    let within = Duration::new(secs.unsigned_abs(), nanos);
    if secs >= 0 {
        UNIX_EPOCH + within
    } else {
        UNIX_EPOCH.checked_sub(within).unwrap_or(UNIX_EPOCH)
    }
}

/// Where an S3-compatible archive is. `None` fields come from the
/// environment. `Debug` does not print the secret key or session token.
#[derive(Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    pub bucket: String,
    /// Path prefix inside the bucket (`recordings`), empty for the root.
    pub prefix: String,
    pub region: Option<String>,
    /// For S3-compatible stores other than AWS (MinIO, Ceph, R2, ...).
    pub endpoint: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    /// Allow a plain `http://` endpoint (a local MinIO).
    pub allow_http: bool,
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &redacted(&self.secret_access_key))
            .field("session_token", &redacted(&self.session_token))
            .field("allow_http", &self.allow_http)
            .finish()
    }
}
