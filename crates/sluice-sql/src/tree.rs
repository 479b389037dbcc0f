//! A generic copy of a parse tree, made through the tree's serde implementation. The walk in
//! `walk` runs over this copy rather than the typed tree so that it reaches every field of every
//! node: the parser crate's own walkers visit only the fields they know, and a function call or
//! relation in any field they skip (a LIMIT, a RETURNING list, a column DEFAULT, ...) would go
//! unseen. Serde visits all fields, including those of node types added in later versions.

use serde::ser::{self, Serialize};

use crate::SqlError;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    Seq(Vec<Value>),
    /// A message: its type name (`RangeVar`, `SelectStmt`, ...) and its fields in declaration
    /// order. The parser's `Node` wrapper is dropped, each node names itself.
    Node(&'static str, Vec<(&'static str, Value)>),
}

static NULL: Value = Value::Null;

impl Value {
    pub fn name(&self) -> Option<&'static str> {
        match self {
            Value::Node(name, _) => Some(name),
            _ => None,
        }
    }

    /// A field of a node; `Null` when absent, so lookups chain.
    pub fn field(&self, name: &str) -> &Value {
        match self {
            Value::Node(_, fields) => fields
                .iter()
                .find(|(n, _)| *n == name)
                .map_or(&NULL, |(_, v)| v),
            _ => &NULL,
        }
    }

    pub fn str(&self) -> &str {
        match self {
            Value::Str(s) => s,
            _ => "",
        }
    }

    pub fn is_true(&self) -> bool {
        matches!(self, Value::Bool(true))
    }

    pub fn int(&self) -> i64 {
        match self {
            Value::Int(i) => *i,
            _ => 0,
        }
    }

    pub fn items(&self) -> &[Value] {
        match self {
            Value::Seq(items) => items,
            _ => &[],
        }
    }

    /// The strings of a name list (`[String{sval}, ...]`, as in qualified names).
    pub fn strings(&self) -> Vec<&str> {
        self.items()
            .iter()
            .filter(|v| v.name() == Some("String"))
            .map(|v| v.field("sval").str())
            .collect()
    }
}

/// Copies any serialisable tree.
pub fn of<T: Serialize + ?Sized>(tree: &T) -> Result<Value, SqlError> {
    tree.serialize(Copier)
}

impl ser::Error for SqlError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        SqlError::Tree(msg.to_string())
    }
}

struct Copier;

/// Collects a sequence, tuple or map (as alternating keys and values).
struct Items(Vec<Value>);

struct Fields {
    name: &'static str,
    fields: Vec<(&'static str, Value)>,
}

impl ser::Serializer for Copier {
    type Ok = Value;
    type Error = SqlError;
    type SerializeSeq = Items;
    type SerializeTuple = Items;
    type SerializeTupleStruct = Items;
    type SerializeTupleVariant = Items;
    type SerializeMap = Items;
    type SerializeStruct = Fields;
    type SerializeStructVariant = Fields;

    fn serialize_bool(self, v: bool) -> Result<Value, SqlError> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, SqlError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<Value, SqlError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<Value, SqlError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<Value, SqlError> {
        Ok(Value::Int(v))
    }
    fn serialize_u8(self, v: u8) -> Result<Value, SqlError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<Value, SqlError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<Value, SqlError> {
        Ok(Value::Int(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<Value, SqlError> {
        Ok(Value::Int(i64::try_from(v).unwrap_or(i64::MAX)))
    }
    // The raw parse tree has no floating point fields (numeric constants are strings).
    fn serialize_f32(self, _: f32) -> Result<Value, SqlError> {
        Ok(Value::Null)
    }
    fn serialize_f64(self, _: f64) -> Result<Value, SqlError> {
        Ok(Value::Null)
    }
    fn serialize_char(self, v: char) -> Result<Value, SqlError> {
        Ok(Value::Str(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, SqlError> {
        Ok(Value::Str(v.to_owned()))
    }
    fn serialize_bytes(self, _: &[u8]) -> Result<Value, SqlError> {
        Ok(Value::Null)
    }
    fn serialize_none(self) -> Result<Value, SqlError> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, SqlError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, SqlError> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, name: &'static str) -> Result<Value, SqlError> {
        Ok(Value::Node(name, Vec::new()))
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Value, SqlError> {
        Ok(Value::Str(variant.to_owned()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<Value, SqlError> {
        value.serialize(self)
    }
    // A oneof case (a node type, a constant's kind): its content is a message naming itself.
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        value: &T,
    ) -> Result<Value, SqlError> {
        value.serialize(self)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Items, SqlError> {
        Ok(Items(Vec::with_capacity(len.unwrap_or(0))))
    }
    fn serialize_tuple(self, len: usize) -> Result<Items, SqlError> {
        Ok(Items(Vec::with_capacity(len)))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Items, SqlError> {
        Ok(Items(Vec::with_capacity(len)))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        len: usize,
    ) -> Result<Items, SqlError> {
        Ok(Items(Vec::with_capacity(len)))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Items, SqlError> {
        Ok(Items(Vec::with_capacity(len.unwrap_or(0) * 2)))
    }
    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Fields, SqlError> {
        Ok(Fields {
            name,
            fields: Vec::with_capacity(len),
        })
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Fields, SqlError> {
        Ok(Fields {
            name: variant,
            fields: Vec::with_capacity(len),
        })
    }
}

impl Items {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SqlError> {
        self.0.push(value.serialize(Copier)?);
        Ok(())
    }
}

impl ser::SerializeSeq for Items {
    type Ok = Value;
    type Error = SqlError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SqlError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, SqlError> {
        Ok(Value::Seq(self.0))
    }
}

impl ser::SerializeTuple for Items {
    type Ok = Value;
    type Error = SqlError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SqlError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, SqlError> {
        Ok(Value::Seq(self.0))
    }
}

impl ser::SerializeTupleStruct for Items {
    type Ok = Value;
    type Error = SqlError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SqlError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, SqlError> {
        Ok(Value::Seq(self.0))
    }
}

impl ser::SerializeTupleVariant for Items {
    type Ok = Value;
    type Error = SqlError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SqlError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, SqlError> {
        Ok(Value::Seq(self.0))
    }
}

impl ser::SerializeMap for Items {
    type Ok = Value;
    type Error = SqlError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), SqlError> {
        self.push(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), SqlError> {
        self.push(value)
    }
    fn end(self) -> Result<Value, SqlError> {
        Ok(Value::Seq(self.0))
    }
}

impl Fields {
    fn push<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), SqlError> {
        self.fields.push((key, value.serialize(Copier)?));
        Ok(())
    }

    fn finish(mut self) -> Value {
        // `Node { node: Option<NodeEnum> }` only wraps the node, which names itself.
        if self.name == "Node" && self.fields.len() == 1 {
            if let Some((_, inner)) = self.fields.pop() {
                return inner;
            }
        }
        Value::Node(self.name, self.fields)
    }
}

impl ser::SerializeStruct for Fields {
    type Ok = Value;
    type Error = SqlError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), SqlError> {
        self.push(key, value)
    }
    fn end(self) -> Result<Value, SqlError> {
        Ok(self.finish())
    }
}

impl ser::SerializeStructVariant for Fields {
    type Ok = Value;
    type Error = SqlError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), SqlError> {
        self.push(key, value)
    }
    fn end(self) -> Result<Value, SqlError> {
        Ok(self.finish())
    }
}
