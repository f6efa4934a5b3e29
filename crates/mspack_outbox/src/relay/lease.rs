//! Partition leases: each relay holds a fair share of the outbox partitions, renews it, and
//! hands partitions over when relays come and go, so one ordering key is published by one relay
//! at a time.

use std::time::{Duration, Instant};

use mspack_eventstore::OUTBOX_PARTITIONS;

use super::Relay;
use crate::error::OutboxError;

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Relay {
    /// Renews (and rebalances) the leases once `fraction` of their lifetime has passed (the run
    /// loop renews at a third while idle; a pass renews before publishing only when two thirds
    /// have gone, so renewals stay off the publishing path). If renewal fails for long enough
    /// that the leases may have expired, the relay stops publishing until it holds them again.
    pub(super) async fn maintain_leases(&self, fraction: u32) -> Result<(), OutboxError> {
        let ttl = self.config.lease_ttl;
        let due = self
            .state()
            .renewed_at
            .is_none_or(|at| at.elapsed() >= ttl * fraction / 3);
        if !due {
            return Ok(());
        }
        match self.rebalance().await {
            Ok(partitions) => {
                let mut state = self.state();
                state.partitions = partitions;
                state.renewed_at = Some(Instant::now());
                Ok(())
            }
            Err(e) => {
                let mut state = self.state();
                if state
                    .renewed_at
                    .is_none_or(|at| at.elapsed() >= ttl * 2 / 3)
                {
                    state.partitions.clear();
                }
                Err(e)
            }
        }
    }

    async fn rebalance(&self) -> Result<Vec<i64>, OutboxError> {
        let op = "renewing outbox partition leases";
        let db = |e| OutboxError::database(op)(e);
        let ttl = millis(self.config.lease_ttl);
        let owner = self.owner.as_str();
        self.db
            .execute(&self.sql.heartbeat, &[owner.into()])
            .await
            .map_err(db)?;
        let live = self
            .db
            .fetch_one(&self.sql.live_relays, &[(3 * ttl).into(), owner.into()])
            .await
            .map_err(db)?
            .u64(0, "live relays")?
            .max(1);
        let total = u64::from(OUTBOX_PARTITIONS);
        let target = usize::try_from(total.div_ceil(live)).unwrap_or(usize::MAX);
        let mut mine = Vec::new();
        for row in self
            .db
            .fetch_all(&self.sql.renew, &[owner.into(), ttl.into()])
            .await
            .map_err(db)?
        {
            mine.push(row.int(0, "partition")?);
        }
        mine.sort_unstable();
        if mine.len() > target {
            let extra = mine.split_off(target);
            let list = serde_json::to_string(&extra).unwrap_or_else(|_| "[]".to_owned());
            self.db
                .execute(&self.sql.release, &[list.as_str().into(), owner.into()])
                .await
                .map_err(db)?;
        } else if mine.len() < target {
            let mut taken = std::collections::HashSet::new();
            for row in self
                .db
                .fetch_all(&self.sql.taken, &[owner.into()])
                .await
                .map_err(db)?
            {
                taken.insert(row.int(0, "partition")?);
            }
            // Start at a place of this owner's own, so relays starting together don't all
            // race for the same partitions.
            let start =
                i64::from(u32::try_from(mspack_eventstore::outbox_partition(owner)).unwrap_or(0));
            let n = i64::from(OUTBOX_PARTITIONS);
            for k in 0..n {
                if mine.len() >= target {
                    break;
                }
                let p = (start + k) % n;
                if taken.contains(&p) || mine.contains(&p) {
                    continue;
                }
                let claimed = self
                    .db
                    .execute(&self.sql.claim, &[p.into(), owner.into(), ttl.into()])
                    .await
                    .map_err(db)?;
                if claimed == 1 {
                    mine.push(p);
                }
            }
            mine.sort_unstable();
        }
        self.db
            .execute(&self.sql.forget_relays, &[(20 * ttl).into()])
            .await
            .map_err(db)?;
        Ok(mine)
    }

    /// Gives up every lease and the heartbeat (on shutdown), so the other relays take over at
    /// once. Best effort: a relay that can't reach the database lets its leases expire.
    pub(super) async fn leave(&self) {
        let partitions = std::mem::take(&mut self.state().partitions);
        let list = serde_json::to_string(&partitions).unwrap_or_else(|_| "[]".to_owned());
        let owner = self.owner.as_str();
        let _ = self
            .db
            .execute(&self.sql.release, &[list.as_str().into(), owner.into()])
            .await;
        let _ = self.db.execute(&self.sql.leave, &[owner.into()]).await;
        self.state().renewed_at = None;
    }
}
