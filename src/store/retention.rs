//! Retention: counting and deleting old events in small batches, and the per-variant record of
//! the highest pruned `seq` (`monitor_signal_pruned`), written *before* the rows go so that a
//! replay never meets an unexplained gap.

use chrono::{DateTime, Utc};

use super::{
    StoreError,
    backend::Backend,
    query::{Param, Sql},
    sql::SqlStore,
    write,
};

impl<B: Backend> SqlStore<B> {
    /// How many numbered events were created before `before`: what pruning would delete (events
    /// the gateway has not numbered yet are never pruned).
    pub(super) async fn count_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut sql = Sql::new(
            B::DIALECT,
            "SELECT COUNT(*) AS n FROM monitor_signal_event WHERE seq IS NOT NULL AND created_at < ",
        );
        sql.list([Param::Time(before)]);
        let rows = self.fetch(sql).await?;
        let n = rows.first().map(|r| B::int(r, "n")).transpose()?;
        Ok(n.unwrap_or(0).max(0) as u64)
    }

    /// Deletes up to `limit` events created before `before`, lowest `id` first; returns how
    /// many went. The highest deleted `seq` of each variant is recorded first.
    pub(super) async fn prune_batch(
        &self,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<u64, StoreError> {
        let mut sql = Sql::new(
            B::DIALECT,
            "SELECT id, variant, seq FROM monitor_signal_event WHERE seq IS NOT NULL AND created_at < ",
        );
        // Events the gateway has not numbered yet are never pruned (they are not published).
        sql.list([Param::Time(before)])
            .push(&format!(" ORDER BY id LIMIT {limit}"));
        let rows = self.fetch(sql).await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut ids = Vec::with_capacity(rows.len());
        let mut upto: std::collections::BTreeMap<String, i64> = Default::default();
        for row in &rows {
            ids.push(B::int(row, "id")?);
            let seq = B::int(row, "seq")?;
            let e = upto.entry(B::text(row, "variant")?).or_default();
            *e = (*e).max(seq);
        }
        for (variant, seq) in upto {
            let seq = seq.max(self.pruned_upto_of(&variant).await?);
            self.execute(write::upsert_pruned_sql(B::DIALECT, &variant, seq))
                .await?;
        }
        let mut del = Sql::new(B::DIALECT, "DELETE FROM monitor_signal_event WHERE id IN (");
        del.list(ids.into_iter().map(Param::I64)).push(")");
        self.execute(del).await
    }

    /// The highest pruned `seq` of `variant`, 0 if none was pruned.
    pub(super) async fn pruned_upto_of(&self, variant: &str) -> Result<i64, StoreError> {
        let mut sql = Sql::new(
            B::DIALECT,
            "SELECT pruned_upto FROM monitor_signal_pruned WHERE variant = ",
        );
        sql.list([Param::Str(variant.to_owned())]);
        let rows = self.fetch(sql).await?;
        Ok(rows
            .first()
            .map(|r| B::int(r, "pruned_upto"))
            .transpose()?
            .unwrap_or(0))
    }
}
