//! The MySQL leg: mysql_async logs in to the gateway's MySQL listener as the identity, the
//! target as the database, the per-task credential as the password (caching_sha2_password's
//! RSA exchange on loopback). A text without parameters runs over the text protocol (several
//! statements allowed); with parameters as a prepared statement.

use std::net::SocketAddr;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Params, Row, SslOpts};
use serde_json::{json, Value};

use super::{Outcome, ResultSet, ServerError};
use crate::McpError;

fn my_err(e: impl std::fmt::Display) -> McpError {
    McpError::Client(format!("MySQL listener: {e}"))
}

pub(crate) struct Leg {
    conn: Conn,
}

impl Leg {
    pub(crate) async fn connect(
        addr: SocketAddr,
        user: &str,
        database: &str,
        password: &str,
        tls_root: Option<&std::path::Path>,
    ) -> Result<Leg, McpError> {
        // A listener that requires TLS: its own certificate is the only root trusted, and the
        // name is not checked (it is reached by address, on this host).
        let ssl = tls_root.map(|root| {
            SslOpts::default()
                .with_root_certs(vec![root.to_path_buf().into()])
                .with_disable_built_in_roots(true)
                .with_danger_skip_domain_validation(true)
        });
        let opts = OptsBuilder::default()
            .ssl_opts(ssl)
            .ip_or_hostname(addr.ip().to_string())
            .tcp_port(addr.port())
            .user(Some(user))
            .pass(Some(password))
            .db_name(Some(database))
            .prefer_socket(false);
        let conn = Conn::new(opts).await.map_err(my_err)?;
        Ok(Leg { conn })
    }

    pub(crate) async fn run(
        &mut self,
        sql: &str,
        params: &[Value],
        max_rows: usize,
    ) -> Result<Outcome, McpError> {
        let mut outcome = Outcome::default();
        let result = if params.is_empty() {
            match self.conn.query_iter(sql).await {
                Ok(mut result) => collect(&mut result, max_rows, &mut outcome).await,
                Err(e) => Err(e),
            }
        } else {
            let params = Params::Positional(params.iter().map(param).collect());
            match self.conn.exec_iter(sql, params).await {
                Ok(mut result) => collect(&mut result, max_rows, &mut outcome).await,
                Err(e) => Err(e),
            }
        };
        match result {
            Ok(()) => Ok(outcome),
            Err(mysql_async::Error::Server(e)) => {
                outcome.error = Some(ServerError {
                    code: e.state.clone(),
                    message: format!("ERROR {} ({}): {}", e.code, e.state, e.message),
                    detail: None,
                    hint: None,
                });
                Ok(outcome)
            }
            Err(e) => Err(my_err(e)),
        }
    }

    pub(crate) async fn close(self) {
        let _ = self.conn.disconnect().await;
    }
}

async fn collect<P: mysql_async::prelude::Protocol>(
    result: &mut mysql_async::QueryResult<'_, '_, P>,
    max_rows: usize,
    outcome: &mut Outcome,
) -> Result<(), mysql_async::Error> {
    while !result.is_empty() {
        let columns: Vec<(String, u32)> = result
            .columns_ref()
            .iter()
            .map(|c| (c.name_str().into_owned(), u32::from(c.column_type() as u8)))
            .collect();
        let mut set = ResultSet {
            columns,
            ..ResultSet::default()
        };
        result
            .for_each(|row: Row| {
                set.row_count += 1;
                if set.rows.len() >= max_rows {
                    set.truncated = true;
                    return;
                }
                // A value taken out of the row before (none is here) would read as NULL.
                set.rows.push(
                    row.unwrap_raw()
                        .into_iter()
                        .map(|v| v.map_or(Value::Null, value))
                        .collect(),
                );
            })
            .await?;
        if set.columns.is_empty() {
            set.tag = Some(format!("OK {} rows affected", result.affected_rows()));
        }
        outcome.results.push(set);
    }
    Ok(())
}

fn param(value: &Value) -> mysql_async::Value {
    match value {
        Value::Null => mysql_async::Value::NULL,
        Value::Bool(b) => mysql_async::Value::Int(i64::from(*b)),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => mysql_async::Value::Int(i),
            (_, Some(u), _) => mysql_async::Value::UInt(u),
            (_, _, Some(f)) => mysql_async::Value::Double(f),
            _ => mysql_async::Value::Bytes(n.to_string().into_bytes()),
        },
        Value::String(s) => mysql_async::Value::Bytes(s.clone().into_bytes()),
        other => mysql_async::Value::Bytes(other.to_string().into_bytes()),
    }
}

fn value(v: mysql_async::Value) -> Value {
    match v {
        mysql_async::Value::NULL => Value::Null,
        mysql_async::Value::Bytes(b) => json!(String::from_utf8_lossy(&b)),
        mysql_async::Value::Int(i) => json!(i),
        mysql_async::Value::UInt(u) => json!(u),
        mysql_async::Value::Float(f) => json!(f),
        mysql_async::Value::Double(f) => json!(f),
        other => json!(other.as_sql(true).trim_matches('\'')),
    }
}
