//! The validator sets a command verifies certificates against, from the genesis file: the
//! genesis keys on a network whose set never changes, or each epoch's set learned from
//! genesis over RPC (`weft_finality::SetHistory`, every boundary checked) on a network whose
//! set follows the stake.

use anyhow::Result;
use weft_finality::{SetHistory, Sets};

/// Sets as a command knows them.
pub enum Trusted {
    /// `validator_sets = "genesis"`: one set for every epoch.
    Fixed(Vec<weft_types::VerifyingKey>),
    /// `validator_sets = "stake"`: learned as far as needed ([`Trusted::reach`]).
    Learned(SetHistory),
}

impl Trusted {
    /// The sets of the network `genesis` describes (nothing learned yet).
    pub fn of(genesis: &weft_node::Genesis) -> Result<Self> {
        let keys = genesis.validator_keys().map_err(anyhow::Error::msg)?;
        Ok(match genesis.validator_sets {
            weft_node::ValidatorSets::Genesis => Self::Fixed(keys),
            weft_node::ValidatorSets::Stake => {
                let chain =
                    weft_types::ChainId::of_genesis(&genesis.block().map_err(anyhow::Error::msg)?);
                Self::Learned(
                    SetHistory::new(chain, genesis.epoch_length_blocks, keys)
                        .map_err(|e| anyhow::anyhow!("{e}"))?,
                )
            }
        })
    }

    /// Learns, through `client`, every set a certificate of a block at `height` may need:
    /// up to the epoch after the height's (a block's certificate may be a later block's).
    pub async fn reach(&mut self, client: &weft_client::Client, height: u64) -> Result<()> {
        if let Self::Learned(history) = self {
            let epoch = history.epoch_of_height(height).saturating_add(1);
            if history.set(epoch).is_none() {
                client.learn_sets(history, epoch).await?;
            }
        }
        Ok(())
    }

    /// The sets, to verify against.
    pub fn sets(&self) -> &(dyn Sets + Send + Sync) {
        match self {
            Self::Fixed(keys) => keys,
            Self::Learned(history) => history,
        }
    }
}
