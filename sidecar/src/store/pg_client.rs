//! A blocking face on a pooled tokio-postgres connection, with the calls the store and the
//! migrations make (`query`, `execute`, transactions...): each one is driven to its end with
//! [`Handle::block_on`] on the outbound runtime (crate::outbound), from the blocking thread
//! that serves the request. SQL, transactions and errors are tokio-postgres's own.

use tokio::runtime::Handle;
use tokio_postgres::types::ToSql;
pub use tokio_postgres::{Error, Row};

pub type Params<'p> = [&'p (dyn ToSql + Sync)];

/// A connection checked out of the pool, for as long as this borrow lasts.
pub struct Client<'a> {
    inner: &'a mut tokio_postgres::Client,
    rt: &'a Handle,
}

impl<'a> Client<'a> {
    pub fn new(inner: &'a mut tokio_postgres::Client, rt: &'a Handle) -> Client<'a> {
        Client { inner, rt }
    }

    pub fn query(&mut self, sql: &str, params: &Params<'_>) -> Result<Vec<Row>, Error> {
        self.rt.block_on(self.inner.query(sql, params))
    }

    pub fn query_one(&mut self, sql: &str, params: &Params<'_>) -> Result<Row, Error> {
        self.rt.block_on(self.inner.query_one(sql, params))
    }

    pub fn query_opt(&mut self, sql: &str, params: &Params<'_>) -> Result<Option<Row>, Error> {
        self.rt.block_on(self.inner.query_opt(sql, params))
    }

    pub fn execute(&mut self, sql: &str, params: &Params<'_>) -> Result<u64, Error> {
        self.rt.block_on(self.inner.execute(sql, params))
    }

    pub fn batch_execute(&mut self, sql: &str) -> Result<(), Error> {
        self.rt.block_on(self.inner.batch_execute(sql))
    }

    /// `BEGIN`; dropped without [`Transaction::commit`], it rolls back.
    pub fn transaction(&mut self) -> Result<Transaction<'_>, Error> {
        let tx = self.rt.block_on(self.inner.transaction())?;
        Ok(Transaction { tx, rt: self.rt })
    }
}

pub struct Transaction<'a> {
    tx: tokio_postgres::Transaction<'a>,
    rt: &'a Handle,
}

impl Transaction<'_> {
    pub fn query(&mut self, sql: &str, params: &Params<'_>) -> Result<Vec<Row>, Error> {
        self.rt.block_on(self.tx.query(sql, params))
    }

    pub fn query_one(&mut self, sql: &str, params: &Params<'_>) -> Result<Row, Error> {
        self.rt.block_on(self.tx.query_one(sql, params))
    }

    pub fn query_opt(&mut self, sql: &str, params: &Params<'_>) -> Result<Option<Row>, Error> {
        self.rt.block_on(self.tx.query_opt(sql, params))
    }

    pub fn execute(&mut self, sql: &str, params: &Params<'_>) -> Result<u64, Error> {
        self.rt.block_on(self.tx.execute(sql, params))
    }

    pub fn batch_execute(&mut self, sql: &str) -> Result<(), Error> {
        self.rt.block_on(self.tx.batch_execute(sql))
    }

    pub fn commit(self) -> Result<(), Error> {
        let Transaction { tx, rt } = self;
        rt.block_on(tx.commit())
    }
}
