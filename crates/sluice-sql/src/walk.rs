//! Facts read from a whole statement tree: relations by use, functions, parameters, writes
//! without a bound (UPDATE/DELETE without WHERE, TRUNCATE). The walk visits every node (see
//! `tree`); what it knows about a node type only decides how the relations below it are used,
//! and anything it does not know counts as written, so an unforeseen place for a relation errs
//! towards the stricter fact.

use pg_query::protobuf::ObjectType;

use crate::names::quote;
use crate::tree::Value;

/// A relation as written: names as the parser left them (unquoted ones folded), the schema
/// empty when not written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub schema: String,
    pub name: String,
    /// Created with TEMP: lives in the session's temporary schema.
    pub temporary: bool,
}

#[derive(Debug, Default)]
pub struct Facts {
    pub read: Vec<Relation>,
    pub written: Vec<Relation>,
    /// Bare names, quoted like relation names.
    pub functions: Vec<String>,
    pub unbounded_write: bool,
    pub parameter_count: u32,
}

pub fn facts(tree: &Value) -> Facts {
    let mut walker = Walker {
        facts: Facts::default(),
        ctes: Vec::new(),
        count_parameters: true,
    };
    walker.value(tree, Use::Write);
    walker.facts
}

/// How a relation met at some place in the tree is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    /// A FROM item: read, unless the name is a CTE in scope.
    From,
    /// Read, and never a CTE (COPY TO, LIKE, REFERENCES).
    Read,
    /// Written, created, altered or otherwise acted on; never a CTE.
    Write,
}

struct Walker {
    facts: Facts,
    /// Names of the CTEs in scope, innermost last.
    ctes: Vec<String>,
    /// Off inside PREPARE and CREATE FUNCTION, whose `$n` are their own parameters, not the
    /// statement's.
    count_parameters: bool,
}

impl Walker {
    fn value(&mut self, v: &Value, used: Use) {
        match v {
            Value::Seq(items) => items.iter().for_each(|item| self.value(item, used)),
            Value::Node(name, _) => self.node(name, v, used),
            _ => {}
        }
    }

    fn node(&mut self, name: &str, v: &Value, used: Use) {
        match name {
            "RangeVar" => self.range_var(v, used),
            "SelectStmt" | "InsertStmt" | "UpdateStmt" | "DeleteStmt" | "MergeStmt" => {
                self.query(name, v)
            }
            // Join trees and TABLESAMPLE hold FROM items: their relations keep the FROM use.
            "JoinExpr" | "RangeTableSample" => self.fields(v, |_| used),
            "CopyStmt" => {
                let table = if v.field("is_from").is_true() {
                    Use::Write
                } else {
                    Use::Read
                };
                self.fields(v, |f| if f == "relation" { table } else { Use::Write });
            }
            // TRUNCATE empties its tables: as unbounded as DELETE without WHERE.
            "TruncateStmt" => {
                self.facts.unbounded_write = true;
                self.fields(v, |_| Use::Write);
            }
            "TableLikeClause" => self.fields(v, |_| Use::Read),
            "Constraint" => self.fields(v, |f| {
                if f == "pktable" {
                    Use::Read
                } else {
                    Use::Write
                }
            }),
            "FuncCall" | "CreateTrigStmt" | "CreateEventTrigStmt" => {
                self.function(v.field("funcname"));
                self.fields(v, |_| Use::Write);
            }
            "CreateFunctionStmt" | "PrepareStmt" => {
                if name == "CreateFunctionStmt" {
                    self.function(v.field("funcname"));
                }
                let counting = std::mem::replace(&mut self.count_parameters, false);
                self.fields(v, |_| Use::Write);
                self.count_parameters = counting;
            }
            "ObjectWithArgs" => {
                // Also names operators (DROP OPERATOR +(int, int)), which are not functions.
                let names = v.field("objname").strings();
                if !names.last().is_some_and(|n| is_operator(n)) {
                    self.function(v.field("objname"));
                }
                self.fields(v, |_| Use::Write);
            }
            // `(x).f` may call f(x): PostgreSQL tries a function when f is no field of x.
            "AIndirection" => {
                for field in v.field("indirection").items() {
                    if field.name() == Some("String") {
                        self.functions_push(field.field("sval").str());
                    }
                }
                self.fields(v, |_| Use::Write);
            }
            "ParamRef" if self.count_parameters => {
                let n = u32::try_from(v.field("number").int()).unwrap_or(0);
                self.facts.parameter_count = self.facts.parameter_count.max(n);
            }
            "DropStmt" => {
                let kind = v.field("remove_type").int();
                for object in v.field("objects").items() {
                    self.named_object(kind, object);
                }
                self.fields(v, |_| Use::Write);
            }
            "CommentStmt" | "SecLabelStmt" => {
                self.named_object(v.field("objtype").int(), v.field("object"));
                self.fields(v, |_| Use::Write);
            }
            "RenameStmt" | "AlterObjectSchemaStmt" => {
                self.moved_relation(v);
                self.fields(v, |_| Use::Write);
            }
            _ => self.fields(v, |_| Use::Write),
        }
    }

    fn fields(&mut self, v: &Value, use_of: impl Fn(&str) -> Use) {
        if let Value::Node(_, fields) = v {
            for (field, value) in fields {
                self.value(value, use_of(field));
            }
        }
    }

    /// A query-level statement: its CTEs are in scope for its other clauses and nested queries.
    fn query(&mut self, name: &str, v: &Value) {
        let outer = self.ctes.len();
        self.with_clause(v.field("with_clause"));
        if let Value::Node(_, fields) = v {
            for (field, value) in fields {
                let used = match (name, *field) {
                    (_, "with_clause") => continue,
                    ("SelectStmt", "from_clause")
                    | ("UpdateStmt", "from_clause")
                    | ("DeleteStmt", "using_clause")
                    | ("MergeStmt", "source_relation") => Use::From,
                    _ => Use::Write,
                };
                self.value(value, used);
            }
        }
        if matches!(name, "UpdateStmt" | "DeleteStmt")
            && matches!(v.field("where_clause"), Value::Null)
        {
            self.facts.unbounded_write = true;
        }
        self.ctes.truncate(outer);
    }

    /// Walks the CTE bodies, each seeing the CTEs PostgreSQL lets it see: with RECURSIVE all of
    /// them, otherwise only the earlier ones, so that in `WITH t AS (SELECT * FROM t)` the inner
    /// `t` is the table. Leaves all the names in scope.
    fn with_clause(&mut self, with: &Value) {
        let ctes = with.field("ctes").items();
        let name = |cte: &Value| cte.field("ctename").str().to_owned();
        if with.field("recursive").is_true() {
            self.ctes.extend(ctes.iter().map(name));
            ctes.iter().for_each(|cte| self.value(cte, Use::Write));
        } else {
            for cte in ctes {
                self.value(cte, Use::Write);
                self.ctes.push(name(cte));
            }
        }
    }

    fn range_var(&mut self, v: &Value, used: Use) {
        let rel = Relation {
            schema: v.field("schemaname").str().to_owned(),
            name: v.field("relname").str().to_owned(),
            temporary: v.field("relpersistence").str() == "t",
        };
        // A qualified name is never a CTE; the catalog part of `db.schema.t` is the database.
        let qualified = !rel.schema.is_empty() || !v.field("catalogname").str().is_empty();
        match used {
            Use::From if !qualified && self.ctes.contains(&rel.name) => {}
            Use::From | Use::Read => self.facts.read.push(rel),
            Use::Write => self.facts.written.push(rel),
        }
    }

    /// Relations named by a list of strings under an object type (DROP, COMMENT ON, SECURITY
    /// LABEL): the relation itself, or the table a rule, trigger, policy, constraint or column
    /// belongs to.
    fn named_object(&mut self, kind: i64, object: &Value) {
        let Ok(kind) = ObjectType::try_from(i32::try_from(kind).unwrap_or(-1)) else {
            return;
        };
        let names = object.field("items").strings();
        let table = match kind {
            ObjectType::ObjectTable
            | ObjectType::ObjectView
            | ObjectType::ObjectMatview
            | ObjectType::ObjectForeignTable
            | ObjectType::ObjectSequence
            | ObjectType::ObjectIndex => &names[..],
            ObjectType::ObjectRule
            | ObjectType::ObjectTrigger
            | ObjectType::ObjectPolicy
            | ObjectType::ObjectTabconstraint
            | ObjectType::ObjectColumn => names.split_last().map_or(&[][..], |(_, t)| t),
            _ => return,
        };
        // `[db.]schema.name`
        let mut parts = table.iter().rev();
        if let Some(name) = parts.next() {
            self.facts.written.push(Relation {
                schema: parts.next().map_or_else(String::new, |s| (*s).to_owned()),
                name: (*name).to_owned(),
                temporary: false,
            });
        }
    }

    /// The relation a rename or `SET SCHEMA` leaves behind under its new name.
    fn moved_relation(&mut self, v: &Value) {
        let kind = match v.name() {
            Some("RenameStmt") => v.field("rename_type").int(),
            _ => v.field("object_type").int(),
        };
        let relation_kinds = [
            ObjectType::ObjectTable,
            ObjectType::ObjectView,
            ObjectType::ObjectMatview,
            ObjectType::ObjectForeignTable,
            ObjectType::ObjectSequence,
            ObjectType::ObjectIndex,
        ];
        if !relation_kinds.iter().any(|k| *k as i64 == kind) {
            return;
        }
        let old = v.field("relation");
        let (schema, name) = match v.name() {
            Some("RenameStmt") => (old.field("schemaname").str(), v.field("newname").str()),
            _ => (v.field("newschema").str(), old.field("relname").str()),
        };
        if !name.is_empty() {
            self.facts.written.push(Relation {
                schema: schema.to_owned(),
                name: name.to_owned(),
                temporary: false,
            });
        }
    }

    /// A function by its bare name: the schema is dropped so that a rule about `pg_read_file`
    /// also holds for `pg_catalog.pg_read_file`.
    fn function(&mut self, name: &Value) {
        if let Some(last) = name.strings().last() {
            self.functions_push(last);
        }
    }

    fn functions_push(&mut self, name: &str) {
        self.facts.functions.push(quote(name).into_owned());
    }
}

/// Operator names are made of these characters only; function names never are.
fn is_operator(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| "+-*/<>=~!@#%^&|`?".contains(c))
}
