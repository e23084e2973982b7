//! Originals and derived files, behind one object store: a local
//! directory by default, S3-compatible storage for several nodes.
//! Every object of a document lives under `documents/{id}/`.

use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as Key;
use object_store::{ObjectStore, PutPayload};
use secrecy::ExposeSecret;

use crate::config::{BlobConfig, BlobKind};

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("the blob directory: {0}")]
    Directory(#[from] std::io::Error),
    #[error("blob store: {0}")]
    Store(#[from] object_store::Error),
    #[error("blob store: no answer within 2 s")]
    Unanswered,
}

#[derive(Clone)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
}

impl Blobs {
    pub fn open(config: &BlobConfig) -> Result<Self, BlobError> {
        let store: Arc<dyn ObjectStore> = match config.kind {
            BlobKind::Local => {
                std::fs::create_dir_all(&config.path)?;
                Arc::new(LocalFileSystem::new_with_prefix(&config.path)?)
            }
            BlobKind::S3 => {
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(&config.bucket)
                    .with_region(&config.region);
                if let Some(endpoint) = &config.endpoint {
                    builder = builder
                        .with_endpoint(endpoint)
                        .with_allow_http(endpoint.starts_with("http://"));
                }
                if let Some(key) = &config.access_key_id {
                    builder = builder.with_access_key_id(key.expose_secret());
                }
                if let Some(secret) = &config.secret_access_key {
                    builder = builder.with_secret_access_key(secret.expose_secret());
                }
                Arc::new(builder.build()?)
            }
        };
        Ok(Self { store })
    }

    fn original(id: &str) -> Key {
        Key::from(format!("documents/{id}/original"))
    }

    fn searchable_pdf(id: &str) -> Key {
        Key::from(format!("documents/{id}/searchable.pdf"))
    }

    fn page_image(id: &str, number: i64) -> Key {
        Key::from(format!("documents/{id}/pages/{number}.jpg"))
    }

    fn folder(id: &str) -> Key {
        Key::from(format!("documents/{id}"))
    }

    #[tracing::instrument(skip_all, name = "blob_put", fields(document = id, bytes = bytes.len()))]
    pub async fn put_original(&self, id: &str, bytes: Bytes) -> Result<(), BlobError> {
        self.store
            .put(&Self::original(id), PutPayload::from(bytes))
            .await?;
        Ok(())
    }

    #[tracing::instrument(skip_all, name = "blob_get", fields(document = id))]
    pub async fn original_of(&self, id: &str) -> Result<Bytes, BlobError> {
        Ok(self.store.get(&Self::original(id)).await?.bytes().await?)
    }

    /// Keep a document's searchable PDF, made once.
    #[tracing::instrument(skip_all, name = "blob_put", fields(document = id, bytes = bytes.len()))]
    pub async fn put_searchable_pdf(&self, id: &str, bytes: Bytes) -> Result<(), BlobError> {
        self.store
            .put(&Self::searchable_pdf(id), PutPayload::from(bytes))
            .await?;
        Ok(())
    }

    /// A document's searchable PDF, if it was made.
    #[tracing::instrument(skip_all, name = "blob_get", fields(document = id))]
    pub async fn searchable_pdf_of(&self, id: &str) -> Result<Option<Bytes>, BlobError> {
        self.made(&Self::searchable_pdf(id)).await
    }

    /// Keep the picture of a document's page, made once.
    #[tracing::instrument(skip_all, name = "blob_put", fields(document = id, page = number, bytes = bytes.len()))]
    pub async fn put_page_image(
        &self,
        id: &str,
        number: i64,
        bytes: Bytes,
    ) -> Result<(), BlobError> {
        self.store
            .put(&Self::page_image(id, number), PutPayload::from(bytes))
            .await?;
        Ok(())
    }

    /// The picture of a document's page, if it was made.
    #[tracing::instrument(skip_all, name = "blob_get", fields(document = id, page = number))]
    pub async fn page_image_of(&self, id: &str, number: i64) -> Result<Option<Bytes>, BlobError> {
        self.made(&Self::page_image(id, number)).await
    }

    /// A derived object, if it was made.
    async fn made(&self, key: &Key) -> Result<Option<Bytes>, BlobError> {
        match self.store.get(key).await {
            Ok(found) => Ok(Some(found.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Remove every object of a document.
    #[tracing::instrument(skip_all, name = "blob_delete", fields(document = id))]
    pub async fn delete_document(&self, id: &str) -> Result<(), BlobError> {
        let keys: Vec<Key> = self
            .store
            .list(Some(&Self::folder(id)))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await?;
        for key in keys {
            match self.store.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Every object's key under `prefix` (for checks and tests).
    pub async fn keys(&self, prefix: Option<&str>) -> Result<Vec<String>, BlobError> {
        let prefix = prefix.map(Key::from);
        Ok(self
            .store
            .list(prefix.as_ref())
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await?)
    }

    /// Whether the store answers within two seconds (readiness: the
    /// client's own retries would take minutes).
    pub async fn ping(&self) -> Result<(), BlobError> {
        let mut listing = self.store.list(Some(&Key::from("documents")));
        match tokio::time::timeout(std::time::Duration::from_secs(2), listing.try_next()).await {
            Ok(answer) => answer.map(|_| ()).map_err(BlobError::from),
            Err(_) => Err(BlobError::Unanswered),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_document_folder_is_written_read_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let config = BlobConfig {
            path: dir.path().join("blobs").display().to_string(),
            ..BlobConfig::default()
        };
        let blobs = Blobs::open(&config).unwrap();
        blobs
            .put_original("a", Bytes::from_static(b"one"))
            .await
            .unwrap();
        blobs
            .put_original("b", Bytes::from_static(b"two"))
            .await
            .unwrap();
        assert_eq!(
            blobs.original_of("a").await.unwrap(),
            Bytes::from_static(b"one")
        );
        blobs.delete_document("a").await.unwrap();
        assert_eq!(blobs.keys(None).await.unwrap(), ["documents/b/original"]);
        assert!(blobs.original_of("a").await.is_err());
        // Deleting what is gone is not an error.
        blobs.delete_document("a").await.unwrap();
    }
}
