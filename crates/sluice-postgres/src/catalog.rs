//! Naming the source of result columns: RowDescription gives each column's table OID and
//! attribute number, and the target's catalog turns them into `schema.table.column`, which is
//! what column masking rules name. Also naming the function a FunctionCall calls by OID.
//!
//! The names are cached per (target, database) for all sessions, for the configured TTL, so a
//! masked session normally reads none. A session that misses opens its own catalog connection
//! (logged in like the session's upstream, kept until the session ends): sessions run on
//! separate runtimes, and a connection shared between them would tie one session's progress
//! to another runtime's thread.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;

use sluice_core::sync::lock;
use sluice_core::Session;
use sluice_pgwire::backend as be;
use sluice_pgwire::cstr::lossy;
use sluice_pgwire::rows;
use sluice_sql::lineage::CatalogRelation;

use crate::error::PgError;
use crate::upstream;
use sluice_net::stream::UpstreamStream;

/// A catalog lookup that takes longer fails the statement rather than stalling it.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);
/// Catalog answers are small; a bigger message is not one.
const MAX_CATALOG_MESSAGE: usize = 1 << 20;

/// A table's names, by attribute number.
#[derive(Debug)]
pub struct TableNames {
    pub schema: String,
    pub table: String,
    columns: HashMap<i16, String>,
}

impl TableNames {
    pub fn column(&self, attnum: i16) -> Option<&str> {
        self.columns.get(&attnum).map(String::as_str)
    }
}

struct Entry {
    read_at: Instant,
    /// `None`: the catalog has no such relation (dropped, or not yet committed).
    names: Option<Arc<TableNames>>,
}

/// The cache every session of a PostgreSQL listener shares.
#[derive(Default)]
pub struct CatalogCache {
    by_database: Mutex<HashMap<(String, String), HashMap<u32, Entry>>>,
}

/// What the cache knows of a table.
pub enum Known {
    Table(Arc<TableNames>),
    NoSuchTable,
    Unknown,
    /// The catalog could not be read for it: its columns may be anything.
    Unnamed,
}

impl CatalogCache {
    pub fn get(&self, session: &Session, table_oid: u32, ttl: Duration) -> Known {
        let by_database = lock(&self.by_database);
        let entry = by_database
            .get(&key(session))
            .and_then(|tables| tables.get(&table_oid))
            .filter(|e| e.read_at.elapsed() < ttl);
        match entry {
            Some(Entry {
                names: Some(names), ..
            }) => Known::Table(names.clone()),
            Some(Entry { names: None, .. }) => Known::NoSuchTable,
            None => Known::Unknown,
        }
    }

    fn store(&self, session: &Session, read: HashMap<u32, Option<Arc<TableNames>>>) {
        let now = Instant::now();
        let mut by_database = lock(&self.by_database);
        let tables = by_database.entry(key(session)).or_default();
        for (oid, names) in read {
            tables.insert(
                oid,
                Entry {
                    read_at: now,
                    names,
                },
            );
        }
    }
}

fn key(session: &Session) -> (String, String) {
    (session.target().name.clone(), session.database().to_owned())
}

/// A session's own connection for catalog reads, opened on first need.
#[derive(Default)]
pub struct CatalogReader {
    connection: Option<(UpstreamStream, BytesMut)>,
}

impl CatalogReader {
    /// Reads the names of `oids` into `cache`. Any failure is an error: the caller cannot mask
    /// what it cannot name, and fails closed.
    pub async fn read(
        &mut self,
        session: &Session,
        cache: &CatalogCache,
        oids: &[u32],
    ) -> Result<(), PgError> {
        let read = self.query(session, oids).await?;
        cache.store(session, read);
        Ok(())
    }

    async fn query(
        &mut self,
        session: &Session,
        oids: &[u32],
    ) -> Result<HashMap<u32, Option<Arc<TableNames>>>, PgError> {
        let sql = format!(
            "SELECT c.oid, n.nspname, c.relname, a.attnum, a.attname \
             FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_catalog.pg_attribute a \
               ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
             WHERE c.oid IN ({})",
            oid_list(oids)
        );
        let mut read: HashMap<u32, Option<Arc<TableNames>>> =
            oids.iter().map(|&oid| (oid, None)).collect();
        let mut tables: HashMap<u32, TableNames> = HashMap::new();
        for row in self.rows(session, &sql).await? {
            let [Some(oid), Some(schema), Some(table), attnum, name] = row else {
                return Err(catalog_error("a catalog row without its names"));
            };
            let oid: u32 = oid.parse().map_err(catalog_error)?;
            let names = tables.entry(oid).or_insert_with(|| TableNames {
                schema,
                table,
                columns: HashMap::new(),
            });
            if let (Some(attnum), Some(name)) = (attnum, name) {
                let attnum: i16 = attnum.parse().map_err(catalog_error)?;
                names.columns.insert(attnum, name);
            }
        }
        for (oid, names) in tables {
            read.insert(oid, Some(Arc::new(names)));
        }
        Ok(read)
    }

    /// The columns (in order) of the relations `names`, and the definitions of those that
    /// are views or materialized views, for masking by lineage. A relation the catalog does
    /// not show is `Missing`. Names travel hex-encoded, so no quoting setting of the
    /// connection can change what is looked up; definitions are printed under the search path
    /// the lineage analysis reads them with (`public`), so the names they need are qualified.
    pub async fn relations(
        &mut self,
        session: &Session,
        names: &[(String, String)],
    ) -> Result<Vec<((String, String), CatalogRelation)>, PgError> {
        let text = |s: &str| {
            format!(
                "pg_catalog.convert_from(pg_catalog.decode('{}', 'hex'), 'UTF8')",
                hex::encode(s)
            )
        };
        let wanted = names
            .iter()
            .map(|(schema, name)| format!("({}, {})", text(schema), text(name)))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SET search_path TO public; \
             SELECT w.s, w.r, c.relkind::text, \
               CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid) END, \
               a.attname \
             FROM (VALUES {wanted}) AS w(s, r) \
             JOIN pg_catalog.pg_namespace n ON n.nspname = w.s \
             JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = w.r \
             LEFT JOIN pg_catalog.pg_attribute a \
               ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY 1, 2, a.attnum"
        );
        let rows = self.rows(session, &sql).await?;
        // By name: the relation's kind, its definition, its columns.
        type Found = (String, Option<String>, Vec<String>);
        let mut found: HashMap<(String, String), Found> = HashMap::new();
        for row in rows {
            let [Some(schema), Some(name), Some(kind), definition, column] = row else {
                return Err(catalog_error("a catalog row without its names"));
            };
            let entry = found
                .entry((schema, name))
                .or_insert_with(|| (kind, definition, Vec::new()));
            entry.2.extend(column);
        }
        let mut read = Vec::with_capacity(names.len());
        for name in names {
            let relation = match found.remove(name) {
                None => CatalogRelation::Missing,
                Some((kind, definition, columns)) if kind == "v" || kind == "m" => {
                    // A view traced as a table would hide what it reads.
                    let definition =
                        definition.ok_or_else(|| catalog_error("a view without its definition"))?;
                    CatalogRelation::View {
                        columns: columns.into(),
                        definition: definition.into(),
                    }
                }
                Some((_, _, columns)) => CatalogRelation::Table(columns.into()),
            };
            read.push((name.clone(), relation));
        }
        Ok(read)
    }

    /// The schema and name of the function `oid`; `None` when the catalog has none.
    pub async fn function_name(
        &mut self,
        session: &Session,
        oid: u32,
    ) -> Result<Option<(String, String)>, PgError> {
        let sql = format!(
            "SELECT n.nspname, p.proname FROM pg_catalog.pg_proc p \
             JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE p.oid = {oid}"
        );
        let rows = self.rows(session, &sql).await?;
        Ok(rows.into_iter().find_map(|row| match row {
            [Some(schema), Some(name)] => Some((schema, name)),
            _ => None,
        }))
    }

    /// Runs `sql` on the catalog connection (opened on first use) and returns its rows of
    /// `N` text values, within [`LOOKUP_TIMEOUT`]. Any failure is an error, after which the
    /// connection, in an unknown state, is dropped and opened afresh next time.
    async fn rows<const N: usize>(
        &mut self,
        session: &Session,
        sql: &str,
    ) -> Result<Vec<[Option<String>; N]>, PgError> {
        let rows = tokio::time::timeout(LOOKUP_TIMEOUT, self.exchange(session, sql))
            .await
            .unwrap_or_else(|_| Err(catalog_error("the catalog query timed out")));
        rows.inspect_err(|_| self.connection = None)
    }

    async fn exchange<const N: usize>(
        &mut self,
        session: &Session,
        sql: &str,
    ) -> Result<Vec<[Option<String>; N]>, PgError> {
        if self.connection.is_none() {
            let up = upstream::connect(
                session,
                &[
                    (b"application_name", b"sluice-catalog"),
                    (b"client_encoding", b"UTF8"),
                ],
            )
            .await?;
            self.connection = Some((up.stream, up.leftover));
        }
        let Some((stream, buf)) = self.connection.as_mut() else {
            return Err(catalog_error("no catalog connection"));
        };
        let mut out = BytesMut::new();
        sluice_pgwire::encode::query(&mut out, sql);
        stream.write_all(&out).await?;
        stream.flush().await?;
        let mut rows = Vec::new();
        let mut failure = None;
        loop {
            let (tag, body) = upstream::read_message(stream, buf, MAX_CATALOG_MESSAGE)
                .await?
                .ok_or_else(|| catalog_error("the target closed the catalog connection"))?;
            match tag {
                be::DATA_ROW => {
                    let row = rows::data_row(&body).map_err(catalog_error)?;
                    rows.push(std::array::from_fn(|i| {
                        row.get(i).copied().flatten().map(|v| lossy(v).into_owned())
                    }));
                }
                be::ERROR_RESPONSE => {
                    let f = be::error_fields(&body).map_err(catalog_error)?;
                    failure = Some(lossy(f.message).into_owned());
                }
                be::READY_FOR_QUERY => break,
                _ => {}
            }
        }
        match failure {
            Some(message) => Err(catalog_error(message)),
            None => Ok(rows),
        }
    }
}

fn oid_list(oids: &[u32]) -> String {
    oids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn catalog_error(e: impl std::fmt::Display) -> PgError {
    PgError::Masking(format!("could not name the result's source columns: {e}"))
}
