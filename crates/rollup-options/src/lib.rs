//! Weft's options rollup: European calls and puts on one underlying, cash-settled at expiry
//! against an oracle price, collateralized in the token rollup's token.
//!
//! Accounts are Weft senders (ed25519 keys; the sequencer authenticated each transaction).
//! Every operation is a payload ([`Op`]); state changes are deterministic functions of the
//! finalized namespace data and the genesis ([`Genesis`]).
//!
//! # Money in and premiums: bundles with the token rollup
//! The options rollup holds no token itself. Collateral arrives by a [`Op::Deposit`] leg
//! bundled with a token-rollup transfer of the same amount to the rollup's escrow account;
//! premiums are paid by a token-rollup transfer bundled with the [`Op::Trade`] leg. The
//! outcome rule (`weft_rollup_kit`) makes both sides execute or neither: a trade whose
//! premium payment bounces, or whose premium moved past the taker's limit, changes neither
//! rollup.
//!
//! # Rules (each failure is a skip, or for a leg a revert of its bundle, with its reason)
//! 1. The payload decodes as an [`Op`].
//! 2. `PostPrice` comes from the genesis oracle key; the price is > 0.
//! 3. `Quote` sets the sender's quote on a series not yet expired; `bid <= ask`; a maker holds
//!    at most [`QUOTES_PER_MAKER_MAX`] live quotes.
//! 4. `Deposit` is a bundle leg, and the bundle holds a token-rollup leg, not yet used by
//!    another leg of it, that is a transfer of exactly `amount` from the depositor to the
//!    escrow account.
//! 5. `Trade` is a bundle leg against a maker's quotes on unexpired series, each series once:
//!    buys at the ask, sells at the bid, at most the quoted size. Its net premium (buys minus
//!    sells) is at least 0 and at most `premium_max` (the taker's precondition), and the
//!    bundle holds a token-rollup leg, not yet used by another leg of it, that transfers
//!    exactly the net premium from the taker to the maker (the transfer's own validity, e.g.
//!    the taker's balance, is the token rollup's to check; the token rollup requires its
//!    payer to be the leg's sender, so nobody can spend another's payment).
//! 6. After any trade, each party's locked collateral is `strike x short quantity` summed
//!    over its positions, and must not exceed its deposits (free collateral never negative).
//! 7. `Settle` on a series past expiry, once a price was posted at or after expiry: each
//!    long unit is paid `min(max(S - K, 0), K)` for a call (a call capped at its strike, so
//!    collateral of K covers it) or `max(K - S, 0)` for a put, from the short side's locked
//!    collateral; positions close.
//!
//! # State root (designed to be proven later)
//! A Merkle root (`weft_types::merkle`) over fixed-size leaves in key order: each account's
//! `(key, free, locked)`, each position `(series, key, quantity)`, each quote `(series,
//! maker, bid, ask, size)`, the price `(price, height)` and each settled series. A STARK
//! can later prove transitions leaf by leaf, as the token rollup's does.

use std::collections::{BTreeMap, BTreeSet};
use thiserror::Error;
use weft_rollup_kit::{ExecTx, Program};
use weft_rollup_token::Transfer;
use weft_types::{merkle, Digest, NamespaceId};

/// Default namespace of the options rollup.
pub const DEFAULT_OPTIONS_NAMESPACE: u64 = 8;
/// Most series one trade may touch.
pub const TRADE_LEGS_MAX: usize = 4;
/// Most live quotes one maker may hold (bounds the state a maker can grow, rule 3).
pub const QUOTES_PER_MAKER_MAX: usize = 64;

/// Call or put.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Pays `min(max(S - K, 0), K)` per unit at expiry.
    Call,
    /// Pays `max(K - S, 0)` per unit at expiry.
    Put,
}

/// An option series.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Series {
    /// Call or put.
    pub kind: Kind,
    /// Strike, in token units.
    pub strike: u64,
    /// Expiry: the Weft height from which the series can be settled, and no longer traded.
    pub expiry: u64,
}

impl Series {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(match self.kind {
            Kind::Call => 0,
            Kind::Put => 1,
        });
        out.extend_from_slice(&self.strike.to_be_bytes());
        out.extend_from_slice(&self.expiry.to_be_bytes());
    }

    /// Payoff per long unit at price `s`.
    pub fn payoff(&self, s: u64) -> u64 {
        match self.kind {
            Kind::Call => s.saturating_sub(self.strike).min(self.strike),
            Kind::Put => self.strike.saturating_sub(s),
        }
    }
}

/// Buy or sell, from the taker's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The taker buys at the maker's ask.
    Buy,
    /// The taker sells at the maker's bid.
    Sell,
}

/// One series of a trade.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TradeLeg {
    /// The series.
    pub series: Series,
    /// Taker's side.
    pub side: Side,
    /// Units.
    pub quantity: u64,
}

/// An options-rollup operation (a payload).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// The oracle's price of the underlying (rule 2).
    PostPrice {
        /// Price in token units.
        price: u64,
    },
    /// A maker's two-sided quote on a series (rule 3).
    Quote {
        /// The series.
        series: Series,
        /// Price the maker buys at.
        bid: u64,
        /// Price the maker sells at.
        ask: u64,
        /// Units available on each side.
        size: u64,
    },
    /// Collateral in, paid by a bundled token transfer to the escrow (rule 4).
    Deposit {
        /// Token units.
        amount: u64,
    },
    /// A multi-series trade against one maker, premium paid by a bundled token transfer
    /// (rule 5).
    Trade {
        /// The maker whose quotes are taken.
        maker: [u8; 32],
        /// The series traded (1 to [`TRADE_LEGS_MAX`]).
        legs: Vec<TradeLeg>,
        /// The most net premium the taker pays (its precondition).
        premium_max: u64,
    },
    /// Cash settlement of an expired series (rule 7).
    Settle {
        /// The series.
        series: Series,
    },
}

/// Why a payload is not an [`Op`].
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("malformed options payload: {0}")]
pub struct Malformed(pub &'static str);

struct Reader<'a>(&'a [u8]);
impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], Malformed> {
        if self.0.len() < N {
            return Err(Malformed("truncated"));
        }
        let (head, rest) = self.0.split_at(N);
        self.0 = rest;
        Ok(head.try_into().expect("N bytes"))
    }
    fn u64(&mut self) -> Result<u64, Malformed> {
        Ok(u64::from_be_bytes(self.take::<8>()?))
    }
    fn series(&mut self) -> Result<Series, Malformed> {
        let kind = match self.take::<1>()?[0] {
            0 => Kind::Call,
            1 => Kind::Put,
            _ => return Err(Malformed("series kind is neither call (0) nor put (1)")),
        };
        Ok(Series {
            kind,
            strike: self.u64()?,
            expiry: self.u64()?,
        })
    }
}

impl Op {
    /// The payload bytes: a tag, then big-endian fields.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Op::PostPrice { price } => {
                out.push(1);
                out.extend_from_slice(&price.to_be_bytes());
            }
            Op::Quote {
                series,
                bid,
                ask,
                size,
            } => {
                out.push(2);
                series.encode(&mut out);
                for v in [bid, ask, size] {
                    out.extend_from_slice(&v.to_be_bytes());
                }
            }
            Op::Deposit { amount } => {
                out.push(3);
                out.extend_from_slice(&amount.to_be_bytes());
            }
            Op::Trade {
                maker,
                legs,
                premium_max,
            } => {
                out.push(4);
                out.extend_from_slice(maker);
                out.extend_from_slice(&premium_max.to_be_bytes());
                out.push(legs.len() as u8);
                for l in legs {
                    l.series.encode(&mut out);
                    out.push(match l.side {
                        Side::Buy => 0,
                        Side::Sell => 1,
                    });
                    out.extend_from_slice(&l.quantity.to_be_bytes());
                }
            }
            Op::Settle { series } => {
                out.push(5);
                series.encode(&mut out);
            }
        }
        out
    }

    /// Decodes a payload (rule 1): exact length, known tags, bounded trade size.
    pub fn decode(bytes: &[u8]) -> Result<Self, Malformed> {
        let mut r = Reader(bytes);
        let op = match r.take::<1>()?[0] {
            1 => Op::PostPrice { price: r.u64()? },
            2 => Op::Quote {
                series: r.series()?,
                bid: r.u64()?,
                ask: r.u64()?,
                size: r.u64()?,
            },
            3 => Op::Deposit { amount: r.u64()? },
            4 => {
                let maker = r.take::<32>()?;
                let premium_max = r.u64()?;
                let n = r.take::<1>()?[0] as usize;
                if n == 0 || n > TRADE_LEGS_MAX {
                    return Err(Malformed("a trade touches 1 to TRADE_LEGS_MAX series"));
                }
                let mut legs = Vec::with_capacity(n);
                for _ in 0..n {
                    let series = r.series()?;
                    let side = match r.take::<1>()?[0] {
                        0 => Side::Buy,
                        1 => Side::Sell,
                        _ => return Err(Malformed("side is neither buy (0) nor sell (1)")),
                    };
                    legs.push(TradeLeg {
                        series,
                        side,
                        quantity: r.u64()?,
                    });
                }
                Op::Trade {
                    maker,
                    legs,
                    premium_max,
                }
            }
            5 => Op::Settle {
                series: r.series()?,
            },
            _ => return Err(Malformed("unknown operation tag")),
        };
        if !r.0.is_empty() {
            return Err(Malformed("trailing bytes"));
        }
        Ok(op)
    }
}

/// The rollup's genesis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Genesis {
    /// Its namespace.
    pub namespace: NamespaceId,
    /// The token rollup's namespace (where deposits and premiums are paid).
    pub token_namespace: NamespaceId,
    /// The oracle's key: the only sender whose `PostPrice` counts.
    pub oracle: [u8; 32],
    /// The token-rollup account deposits are paid to.
    pub escrow: [u8; 32],
}

/// An account's collateral.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Collateral {
    /// Deposited and not locked.
    pub free: u64,
    /// Locked against short positions (rule 6).
    pub locked: u64,
}

/// A maker's quote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quote {
    /// Maker buys at.
    pub bid: u64,
    /// Maker sells at.
    pub ask: u64,
    /// Units left.
    pub size: u64,
}

/// The options rollup's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionsState {
    genesis: Genesis,
    height: u64,
    collateral: BTreeMap<[u8; 32], Collateral>,
    positions: BTreeMap<(Series, [u8; 32]), i64>,
    quotes: BTreeMap<(Series, [u8; 32]), Quote>,
    price: Option<(u64, u64)>,
    settled: BTreeSet<Series>,
    /// Each account's series with a position (index of `positions` by account, so rule 6
    /// costs an account's own positions, not everyone's).
    by_account: BTreeSet<([u8; 32], Series)>,
    /// What the open transaction or bundle changed, oldest first (undone on failure): an
    /// undo costs what was changed, never a copy of the state.
    journal: Vec<Change>,
    /// Token legs of the open bundle already used as a payment (each pays once).
    used_payments: Vec<weft_types::TxHash>,
    /// Live quotes per maker (rule 3's bound).
    quotes_by_maker: BTreeMap<[u8; 32], usize>,
}

/// One undoable change: the value before it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Change {
    Collateral([u8; 32], Option<Collateral>),
    Position((Series, [u8; 32]), Option<i64>),
    Quote((Series, [u8; 32]), Option<Quote>),
    Price(Option<(u64, u64)>),
    Settled(Series),
}

impl OptionsState {
    /// The state at genesis.
    pub fn new(genesis: Genesis) -> Self {
        Self {
            genesis,
            height: 0,
            collateral: BTreeMap::new(),
            positions: BTreeMap::new(),
            quotes: BTreeMap::new(),
            price: None,
            settled: BTreeSet::new(),
            by_account: BTreeSet::new(),
            journal: Vec::new(),
            used_payments: Vec::new(),
            quotes_by_maker: BTreeMap::new(),
        }
    }

    fn set_collateral(&mut self, key: [u8; 32], c: Collateral) {
        let old = self.collateral.insert(key, c);
        self.journal.push(Change::Collateral(key, old));
    }

    fn set_position(&mut self, at: (Series, [u8; 32]), q: i64) {
        let old = if q == 0 {
            self.by_account.remove(&(at.1, at.0));
            self.positions.remove(&at)
        } else {
            self.by_account.insert((at.1, at.0));
            self.positions.insert(at, q)
        };
        self.journal.push(Change::Position(at, old));
    }

    fn set_quote(&mut self, at: (Series, [u8; 32]), q: Option<Quote>) {
        let old = self.put_quote(at, q);
        self.journal.push(Change::Quote(at, old));
    }

    /// Sets or clears a quote, keeping the per-maker count; returns the old one.
    fn put_quote(&mut self, at: (Series, [u8; 32]), q: Option<Quote>) -> Option<Quote> {
        let old = match q {
            Some(q) => self.quotes.insert(at, q),
            None => self.quotes.remove(&at),
        };
        let count = self.quotes_by_maker.entry(at.1).or_insert(0);
        match (old.is_some(), q.is_some()) {
            (false, true) => *count += 1,
            (true, false) => *count -= 1,
            _ => {}
        }
        if *count == 0 {
            self.quotes_by_maker.remove(&at.1);
        }
        old
    }

    /// Undoes the journal down to `len` entries, newest first.
    fn rollback(&mut self, len: usize) {
        while self.journal.len() > len {
            match self.journal.pop().expect("longer than len") {
                Change::Collateral(k, old) => {
                    match old {
                        Some(c) => self.collateral.insert(k, c),
                        None => self.collateral.remove(&k),
                    };
                }
                Change::Position(at, old) => match old {
                    Some(q) => {
                        self.positions.insert(at, q);
                        self.by_account.insert((at.1, at.0));
                    }
                    None => {
                        self.positions.remove(&at);
                        self.by_account.remove(&(at.1, at.0));
                    }
                },
                Change::Quote(at, old) => {
                    self.put_quote(at, old);
                }
                Change::Price(old) => self.price = old,
                Change::Settled(series) => {
                    self.settled.remove(&series);
                }
            }
        }
    }

    /// An account's collateral.
    pub fn collateral(&self, key: &[u8; 32]) -> Collateral {
        self.collateral.get(key).copied().unwrap_or_default()
    }

    /// An account's net position in a series (long > 0, short < 0).
    pub fn position(&self, series: &Series, key: &[u8; 32]) -> i64 {
        self.positions.get(&(*series, *key)).copied().unwrap_or(0)
    }

    /// Every position of an account.
    pub fn positions_of(&self, key: &[u8; 32]) -> Vec<(Series, i64)> {
        self.series_of(key)
            .into_iter()
            .map(|s| (s, self.position(&s, key)))
            .collect()
    }

    fn series_of(&self, key: &[u8; 32]) -> Vec<Series> {
        let lo = Series {
            kind: Kind::Call,
            strike: 0,
            expiry: 0,
        };
        self.by_account
            .range((*key, lo)..)
            .take_while(|(k, _)| k == key)
            .map(|(_, s)| *s)
            .collect()
    }

    /// A maker's quote on a series.
    pub fn quote(&self, series: &Series, maker: &[u8; 32]) -> Option<Quote> {
        self.quotes.get(&(*series, *maker)).copied()
    }

    /// The last oracle price and the height it was posted at.
    pub fn price(&self) -> Option<(u64, u64)> {
        self.price
    }

    /// The net premium of a trade at the maker's current quotes (buys minus sells), or why
    /// it cannot trade.
    pub fn net_premium(&self, maker: &[u8; 32], legs: &[TradeLeg]) -> Result<i128, String> {
        let mut net: i128 = 0;
        for l in legs {
            if l.series.expiry <= self.height {
                return Err(format!("series {:?} has expired", l.series));
            }
            let q = self
                .quote(&l.series, maker)
                .ok_or_else(|| format!("the maker has no quote on {:?}", l.series))?;
            if l.quantity == 0 || l.quantity > q.size {
                return Err(format!(
                    "quantity {} outside the quoted size 1..={}",
                    l.quantity, q.size
                ));
            }
            let px = match l.side {
                Side::Buy => q.ask,
                Side::Sell => q.bid,
            } as i128;
            let amount = px * l.quantity as i128;
            net += match l.side {
                Side::Buy => amount,
                Side::Sell => -amount,
            };
        }
        Ok(net)
    }

    /// Collateral `key` must lock for its positions (rule 6).
    fn required(&self, key: &[u8; 32]) -> u128 {
        self.positions_of(key)
            .into_iter()
            .filter(|(_, q)| *q < 0)
            .map(|(s, q)| s.strike as u128 * q.unsigned_abs() as u128)
            .sum()
    }

    /// Re-locks `key`'s collateral for its positions; `Err` if deposits do not cover it.
    fn relock(&mut self, key: &[u8; 32]) -> Result<(), String> {
        let need = self.required(key);
        let c = self.collateral(key);
        let total = c.free as u128 + c.locked as u128;
        if need > total {
            return Err(format!(
                "account {} needs {need} collateral for its short positions, has {total}",
                hex8(key)
            ));
        }
        let locked = need as u64;
        self.set_collateral(
            *key,
            Collateral {
                free: (total - need) as u64,
                locked,
            },
        );
        Ok(())
    }

    fn add_position(&mut self, series: Series, key: [u8; 32], delta: i64) -> Result<(), String> {
        let q = self
            .position(&series, &key)
            .checked_add(delta)
            .ok_or("position would overflow")?;
        self.set_position((series, key), q);
        Ok(())
    }

    fn execute(&mut self, tx: &ExecTx, bundle: Option<&[&ExecTx]>) -> Result<(), String> {
        let op = Op::decode(&tx.payload).map_err(|e| e.to_string())?;
        let sender = tx.sender;
        match op {
            Op::PostPrice { price } => {
                if sender != self.genesis.oracle {
                    return Err("only the genesis oracle posts prices".into());
                }
                if price == 0 {
                    return Err("a price is > 0".into());
                }
                self.journal.push(Change::Price(self.price));
                self.price = Some((price, self.height));
            }
            Op::Quote {
                series,
                bid,
                ask,
                size,
            } => {
                if series.expiry <= self.height {
                    return Err(format!("series {series:?} has expired"));
                }
                if bid > ask {
                    return Err(format!("bid {bid} above ask {ask}"));
                }
                let quote = (size > 0).then_some(Quote { bid, ask, size });
                let live = self.quotes_by_maker.get(&sender).copied().unwrap_or(0);
                if quote.is_some()
                    && self.quote(&series, &sender).is_none()
                    && live >= QUOTES_PER_MAKER_MAX
                {
                    return Err(format!(
                        "the maker already holds QUOTES_PER_MAKER_MAX = {QUOTES_PER_MAKER_MAX} quotes"
                    ));
                }
                self.set_quote((series, sender), quote);
            }
            Op::Deposit { amount } => {
                let legs = bundle.ok_or("a deposit is a bundle leg with its token transfer")?;
                let escrow = self.genesis.escrow;
                self.take_payment(legs, &sender, &escrow, amount)?;
                let mut c = self.collateral(&sender);
                c.free = c
                    .free
                    .checked_add(amount)
                    .ok_or("collateral would overflow")?;
                self.set_collateral(sender, c);
            }
            Op::Trade {
                maker,
                legs,
                premium_max,
            } => {
                let bundle = bundle.ok_or("a trade is a bundle leg with its premium payment")?;
                if maker == sender {
                    return Err("a taker cannot trade against its own quotes".into());
                }
                let mut seen = BTreeSet::new();
                if !legs.iter().all(|l| seen.insert(l.series)) {
                    return Err("a trade names each series once".into());
                }
                let net = self.net_premium(&maker, &legs)?;
                if net < 0 {
                    return Err(format!(
                        "net premium {net} is negative: the maker would pay, which this rollup does not support"
                    ));
                }
                if net > premium_max as i128 {
                    return Err(format!(
                        "net premium {net} is above the taker's limit {premium_max}"
                    ));
                }
                self.take_payment(bundle, &sender, &maker, net as u64)?;
                for l in &legs {
                    let mut q = self
                        .quote(&l.series, &maker)
                        .expect("net_premium checked the quote");
                    // Two legs on one series: the second sees what the first took.
                    q.size = q
                        .size
                        .checked_sub(l.quantity)
                        .ok_or("the trade takes more than the quoted size")?;
                    self.set_quote((l.series, maker), Some(q));
                    let units = i64::try_from(l.quantity).map_err(|_| "quantity too large")?;
                    let (taker_delta, maker_delta) = match l.side {
                        Side::Buy => (units, -units),
                        Side::Sell => (-units, units),
                    };
                    self.add_position(l.series, sender, taker_delta)?;
                    self.add_position(l.series, maker, maker_delta)?;
                }
                self.relock(&sender)?;
                self.relock(&maker)?;
            }
            Op::Settle { series } => {
                if self.settled.contains(&series) {
                    return Err(format!("series {series:?} is already settled"));
                }
                if self.height < series.expiry {
                    return Err(format!(
                        "series {series:?} expires at height {}, now {}",
                        series.expiry, self.height
                    ));
                }
                let Some((price, _)) = self.price.filter(|(_, at)| *at >= series.expiry) else {
                    return Err("no oracle price posted at or after expiry".into());
                };
                let payoff = series.payoff(price) as u128;
                // The series' positions and quotes are a key range: settling costs them only.
                let holders: Vec<([u8; 32], i64)> = self
                    .positions
                    .range((series, [0u8; 32])..=(series, [0xffu8; 32]))
                    .map(|((_, k), q)| (*k, *q))
                    .collect();
                for (key, q) in holders {
                    self.set_position((series, key), 0);
                    let mut c = self.collateral(&key);
                    let units = q.unsigned_abs() as u128;
                    // A call's payoff is capped at the strike, a put's is at most the strike:
                    // the short's locked `strike x units` covers it.
                    let amount = (payoff * units) as u64;
                    if q > 0 {
                        c.free = c.free.saturating_add(amount);
                    } else {
                        let lock = (series.strike as u128 * units) as u64;
                        c.locked -= lock;
                        c.free += lock - amount;
                    }
                    self.set_collateral(key, c);
                }
                self.settled.insert(series);
                self.journal.push(Change::Settled(series));
                let makers: Vec<[u8; 32]> = self
                    .quotes
                    .range((series, [0u8; 32])..=(series, [0xffu8; 32]))
                    .map(|((_, m), _)| *m)
                    .collect();
                for m in makers {
                    self.set_quote((series, m), None);
                }
            }
        }
        Ok(())
    }

    /// Rules 4 and 5: takes a token-rollup leg of the bundle, not used by another leg yet,
    /// that transfers exactly `amount` from `from` to `to`.
    fn take_payment(
        &mut self,
        legs: &[&ExecTx],
        from: &[u8; 32],
        to: &[u8; 32],
        amount: u64,
    ) -> Result<(), String> {
        let payment = legs.iter().find(|l| {
            l.namespace == self.genesis.token_namespace
                && !self.used_payments.contains(&l.hash)
                && Transfer::decode(&l.payload)
                    .is_ok_and(|t| t.from == *from && t.to == *to && t.amount == amount)
        });
        match payment {
            Some(p) => {
                self.used_payments.push(p.hash);
                Ok(())
            }
            None => Err(format!(
                "the bundle holds no unused token-rollup transfer of exactly {amount} from {} to {}",
                hex8(from),
                hex8(to)
            )),
        }
    }

    /// The state root (see the crate docs).
    pub fn root(&self) -> Digest {
        let mut leaves = Vec::new();
        for (k, c) in &self.collateral {
            leaves.push(merkle::leaf_hash(&[
                b"acct",
                k,
                &c.free.to_be_bytes(),
                &c.locked.to_be_bytes(),
            ]));
        }
        for ((s, k), q) in &self.positions {
            let mut b = Vec::new();
            s.encode(&mut b);
            leaves.push(merkle::leaf_hash(&[b"pos", &b, k, &q.to_be_bytes()]));
        }
        for ((s, k), q) in &self.quotes {
            let mut b = Vec::new();
            s.encode(&mut b);
            leaves.push(merkle::leaf_hash(&[
                b"quote",
                &b,
                k,
                &q.bid.to_be_bytes(),
                &q.ask.to_be_bytes(),
                &q.size.to_be_bytes(),
            ]));
        }
        if let Some((p, h)) = self.price {
            leaves.push(merkle::leaf_hash(&[
                b"price",
                &p.to_be_bytes(),
                &h.to_be_bytes(),
            ]));
        }
        for s in &self.settled {
            let mut b = Vec::new();
            s.encode(&mut b);
            leaves.push(merkle::leaf_hash(&[b"settled", &b]));
        }
        merkle::root(&leaves)
    }
}

fn hex8(key: &[u8; 32]) -> String {
    weft_types::to_hex(&key[..8])
}

impl Program for OptionsState {
    fn namespace(&self) -> NamespaceId {
        self.genesis.namespace
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }

    fn begin_block(&mut self, height: u64) {
        self.height = height;
    }

    fn apply(&mut self, tx: &ExecTx) -> Result<(), String> {
        debug_assert!(self.journal.is_empty(), "no bundle is open between bundles");
        let result = self.execute(tx, None);
        if result.is_err() {
            self.rollback(0); // a skip changes nothing
        }
        self.journal.clear();
        result
    }

    fn apply_leg(&mut self, tx: &ExecTx, bundle: &[&ExecTx]) -> Result<(), String> {
        let (mark, used) = (self.journal.len(), self.used_payments.len());
        let result = self.execute(tx, Some(bundle));
        if result.is_err() {
            self.rollback(mark);
            self.used_payments.truncate(used);
        }
        result
    }

    fn commit_bundle(&mut self) {
        self.journal.clear();
        self.used_payments.clear();
    }

    fn abort_bundle(&mut self) {
        self.rollback(0);
        self.used_payments.clear();
    }

    fn state_root(&self) -> [u8; 32] {
        self.root().0
    }
}

#[cfg(test)]
mod tests {
    //! The seed scenario as the outcome rule sees it: a risk reversal (buy a call, sell a
    //! put) on this rollup, paid from the token rollup, in one bundle.
    use super::*;
    use commonware_cryptography::Signer as _;
    use std::collections::BTreeMap as Map;
    use weft_rollup_kit::{LegRef, Outcome, World};
    use weft_rollup_token::{TokenProgram, TokenState, TransferDomain};
    use weft_types::{ChainId, SigningKey, TxHash};

    const TOKEN: NamespaceId = NamespaceId(7);
    const OPTIONS: NamespaceId = NamespaceId(8);

    fn pk(k: &SigningKey) -> [u8; 32] {
        k.public_key().as_ref().try_into().unwrap()
    }

    fn domain() -> TransferDomain {
        TransferDomain {
            chain: ChainId(weft_types::sha256(&[b"options unit tests"])),
            rollup: TOKEN,
        }
    }

    struct Scenario {
        world: World,
        taker: SigningKey,
        maker: SigningKey,
        oracle: SigningKey,
        escrow: [u8; 32],
        token_nonces: Map<[u8; 32], u32>,
        height: u64,
        seq: u8,
        call: Series,
        put: Series,
    }

    impl Scenario {
        fn new(taker_balance: u64) -> Self {
            let (taker, maker, oracle) = (
                SigningKey::from_seed(1),
                SigningKey::from_seed(2),
                SigningKey::from_seed(3),
            );
            let escrow = pk(&SigningKey::from_seed(4));
            let token = TokenState::genesis(&[(pk(&taker), taker_balance), (pk(&maker), 10_000)]);
            let options = OptionsState::new(Genesis {
                namespace: OPTIONS,
                token_namespace: TOKEN,
                oracle: pk(&oracle),
                escrow,
            });
            Self {
                world: World::new(vec![
                    Box::new(TokenProgram::new(token, domain(), true)),
                    Box::new(options),
                ]),
                taker,
                maker,
                oracle,
                escrow,
                token_nonces: Map::new(),
                height: 0,
                seq: 0,
                call: Series {
                    kind: Kind::Call,
                    strike: 110,
                    expiry: 100,
                },
                put: Series {
                    kind: Kind::Put,
                    strike: 90,
                    expiry: 100,
                },
            }
        }

        fn tx(&mut self, ns: NamespaceId, from: &SigningKey, payload: Vec<u8>) -> ExecTx {
            self.seq += 1;
            ExecTx {
                hash: TxHash(weft_types::sha256(&[&[self.seq], &payload])),
                namespace: ns,
                sender: pk(from),
                nonce: 0,
                payload,
                leg: None,
            }
        }

        fn transfer(&mut self, from: &SigningKey, to: [u8; 32], amount: u64) -> ExecTx {
            let nonce = self.token_nonces.entry(pk(from)).or_insert(0);
            let t = Transfer::sign_leg(from, &domain(), to, amount, *nonce);
            *nonce += 1;
            let from = from.clone();
            self.tx(TOKEN, &from, t.encode())
        }

        /// A bundle of `legs`; the token nonces of a reverted bundle are handed back.
        fn bundle(&mut self, mut legs: Vec<ExecTx>) -> Vec<ExecTx> {
            self.seq += 1;
            let id = weft_types::BundleId(weft_types::sha256(&[b"bundle", &[self.seq]]));
            let count = legs.len() as u8;
            for (i, l) in legs.iter_mut().enumerate() {
                l.leg = Some(LegRef {
                    bundle: id,
                    index: i as u8,
                    count,
                });
            }
            legs
        }

        fn block(&mut self, txs: Vec<ExecTx>) -> Vec<weft_rollup_kit::Executed> {
            self.height += 1;
            let mut by_ns: Map<NamespaceId, Vec<ExecTx>> = Map::new();
            for t in txs {
                by_ns.entry(t.namespace).or_default().push(t);
            }
            // Block rule B5: legs last.
            for list in by_ns.values_mut() {
                list.sort_by_key(|t| t.leg.map(|l| (l.bundle, l.index)));
            }
            self.world.apply_block(self.height, &by_ns)
        }

        fn options(&self) -> &OptionsState {
            self.world.get(OPTIONS).unwrap()
        }

        fn roots(&self) -> ([u8; 32], [u8; 32]) {
            (
                self.world.program(TOKEN).unwrap().state_root(),
                self.world.program(OPTIONS).unwrap().state_root(),
            )
        }

        /// Both deposit collateral, the oracle prices, the maker quotes both series.
        fn setup(&mut self) {
            let (taker, maker, oracle) =
                (self.taker.clone(), self.maker.clone(), self.oracle.clone());
            let mut txs = Vec::new();
            for k in [&taker, &maker] {
                let pay = self.transfer(k, self.escrow, 500);
                let dep = self.tx(OPTIONS, k, Op::Deposit { amount: 500 }.encode());
                txs.extend(self.bundle(vec![dep, pay]));
            }
            txs.push(self.tx(OPTIONS, &oracle, Op::PostPrice { price: 100 }.encode()));
            for (series, bid, ask) in [(self.call, 4, 5), (self.put, 3, 4)] {
                txs.push(
                    self.tx(
                        OPTIONS,
                        &maker,
                        Op::Quote {
                            series,
                            bid,
                            ask,
                            size: 10,
                        }
                        .encode(),
                    ),
                );
            }
            let out = self.block(txs);
            assert!(
                out.iter()
                    .all(|e| matches!(e.outcome, Outcome::Applied | Outcome::Executed(_))),
                "{out:?}"
            );
            assert_eq!(self.options().collateral(&pk(&taker)).free, 500);
        }

        /// The risk reversal: buy 1 call at the ask (5), sell 1 put at the bid (3), net 2.
        fn risk_reversal(&mut self, premium_max: u64, pay: u64) -> Vec<weft_rollup_kit::Executed> {
            let (taker, maker) = (self.taker.clone(), self.maker.clone());
            let trade = Op::Trade {
                maker: pk(&maker),
                legs: vec![
                    TradeLeg {
                        series: self.call,
                        side: Side::Buy,
                        quantity: 1,
                    },
                    TradeLeg {
                        series: self.put,
                        side: Side::Sell,
                        quantity: 1,
                    },
                ],
                premium_max,
            };
            let leg = self.tx(OPTIONS, &taker, trade.encode());
            let payment = self.transfer(&taker, pk(&maker), pay);
            let legs = self.bundle(vec![leg, payment]);
            self.block(legs)
        }
    }

    fn balance(s: &Scenario, k: &SigningKey) -> u64 {
        let token: &TokenProgram = s.world.get(TOKEN).unwrap();
        token.state.account(&pk(k)).map_or(0, |a| a.balance)
    }

    #[test]
    fn a_risk_reversal_executes_on_both_rollups() {
        let mut s = Scenario::new(1_000);
        s.setup();
        let (taker, maker) = (s.taker.clone(), s.maker.clone());
        let out = s.risk_reversal(3, 2);
        assert!(
            out.iter()
                .all(|e| matches!(e.outcome, Outcome::Executed(_))),
            "{out:?}"
        );
        assert_eq!(balance(&s, &taker), 1_000 - 500 - 2);
        assert_eq!(balance(&s, &maker), 10_000 - 500 + 2);
        let o = s.options();
        assert_eq!(o.position(&s.call, &pk(&taker)), 1);
        assert_eq!(o.position(&s.put, &pk(&taker)), -1);
        assert_eq!(
            o.collateral(&pk(&taker)),
            Collateral {
                free: 410,
                locked: 90
            }
        );
        assert_eq!(
            o.collateral(&pk(&maker)),
            Collateral {
                free: 390,
                locked: 110
            }
        );
    }

    /// The premium moved past the taker's limit: the options leg's precondition fails, and
    /// neither rollup changes (the payment is undone).
    #[test]
    fn a_premium_past_the_limit_reverts_on_both_rollups() {
        let mut s = Scenario::new(1_000);
        s.setup();
        let (maker, taker) = (s.maker.clone(), s.taker.clone());
        // The maker re-quotes the call at 7: the net premium is now 4.
        let requote = s.tx(
            OPTIONS,
            &maker,
            Op::Quote {
                series: s.call,
                bid: 6,
                ask: 7,
                size: 10,
            }
            .encode(),
        );
        s.block(vec![requote]);
        let before = s.roots();
        let out = s.risk_reversal(3, 4);
        assert!(
            out.iter().all(|e| matches!(&e.outcome, Outcome::Reverted { leg: 0, reason, .. } if reason.contains("above the taker's limit 3"))),
            "{out:?}"
        );
        assert_eq!(s.roots(), before, "both state roots unchanged");
        assert_eq!(balance(&s, &taker), 500);
        assert_eq!(s.options().position(&s.call, &pk(&taker)), 0);
    }

    /// The payment leg is invalid on the token rollup (the taker cannot pay): the trade,
    /// valid on the options rollup, reverts there too.
    #[test]
    fn an_unpayable_premium_reverts_on_both_rollups() {
        let mut s = Scenario::new(501);
        s.setup();
        let taker = s.taker.clone();
        let before = s.roots();
        let out = s.risk_reversal(3, 2);
        assert!(
            out.iter().all(|e| matches!(&e.outcome, Outcome::Reverted { leg: 1, reason, .. } if reason.contains("does not cover"))),
            "{out:?}"
        );
        assert_eq!(s.roots(), before);
        assert_eq!(
            s.options().collateral(&pk(&taker)),
            Collateral {
                free: 500,
                locked: 0
            }
        );
    }

    /// A payment of the wrong amount, or none, does not buy the options.
    #[test]
    fn a_trade_without_its_exact_payment_reverts() {
        let mut s = Scenario::new(1_000);
        s.setup();
        let out = s.risk_reversal(3, 1);
        assert!(
            out.iter().all(|e| matches!(&e.outcome, Outcome::Reverted { reason, .. } if reason.contains("exactly 2"))),
            "{out:?}"
        );
    }

    #[test]
    fn expiry_settles_in_cash_from_the_short_sides_collateral() {
        let mut s = Scenario::new(1_000);
        s.setup();
        s.risk_reversal(3, 2);
        let (oracle, taker, maker) = (s.oracle.clone(), s.taker.clone(), s.maker.clone());
        s.height = 100;
        let price = s.tx(OPTIONS, &oracle, Op::PostPrice { price: 130 }.encode());
        let call = s.call;
        let put = s.put;
        let settle_call = s.tx(OPTIONS, &oracle, Op::Settle { series: call }.encode());
        let settle_put = s.tx(OPTIONS, &oracle, Op::Settle { series: put }.encode());
        let out = s.block(vec![price, settle_call, settle_put]);
        assert!(out.iter().all(|e| e.outcome == Outcome::Applied), "{out:?}");
        let o = s.options();
        // Call 110 at 130 pays 20 to the taker, from the maker's 110 locked; the put expires
        // worthless and the taker's 90 is released.
        assert_eq!(
            o.collateral(&pk(&taker)),
            Collateral {
                free: 520,
                locked: 0
            }
        );
        assert_eq!(
            o.collateral(&pk(&maker)),
            Collateral {
                free: 480,
                locked: 0
            }
        );
        assert!(o.positions_of(&pk(&taker)).is_empty());
    }

    /// Attacks on payments: one transfer paying for two deposits, a trade naming a series
    /// twice to take more than the quoted size, and a payer's transfer copied out of its
    /// bundle into a thief's bundle or into a plain transaction.
    #[test]
    fn a_payment_pays_once_and_only_for_its_payer() {
        let mut s = Scenario::new(1_000);
        s.setup();
        let (taker, maker) = (s.taker.clone(), s.maker.clone());
        let thief = SigningKey::from_seed(9);
        // Two deposits, one payment.
        let pay = s.transfer(&taker, s.escrow, 100);
        let d1 = s.tx(OPTIONS, &taker, Op::Deposit { amount: 100 }.encode());
        let d2 = s.tx(OPTIONS, &taker, Op::Deposit { amount: 100 }.encode());
        let legs = s.bundle(vec![d1, d2, pay]);
        let out = s.block(legs);
        assert!(
            out.iter().all(|e| matches!(&e.outcome, Outcome::Reverted { leg: 1, reason, .. } if reason.contains("unused"))),
            "{out:?}"
        );
        s.token_nonces.insert(pk(&taker), 1); // the reverted transfer used no token nonce
                                              // One series twice: 10 + 10 against a size-10 quote.
        let twice = Op::Trade {
            maker: pk(&maker),
            legs: vec![
                TradeLeg {
                    series: s.call,
                    side: Side::Buy,
                    quantity: 10,
                },
                TradeLeg {
                    series: s.call,
                    side: Side::Buy,
                    quantity: 10,
                },
            ],
            premium_max: 1_000,
        };
        let leg = s.tx(OPTIONS, &taker, twice.encode());
        let pay = s.transfer(&taker, pk(&maker), 100);
        let legs = s.bundle(vec![leg, pay]);
        let out = s.block(legs);
        assert!(
            out.iter().all(|e| matches!(&e.outcome, Outcome::Reverted { reason, .. } if reason.contains("each series once"))),
            "{out:?}"
        );
        // The taker's payment, copied by a thief into a bundle of its own: into a deposit,
        // the options rollup refuses it (the payer is not the depositor) ...
        s.token_nonces.insert(pk(&taker), 1);
        let pay = s.transfer(&taker, s.escrow, 50);
        let mut lifted = pay.clone();
        lifted.sender = pk(&thief);
        let dep = s.tx(OPTIONS, &thief, Op::Deposit { amount: 50 }.encode());
        let legs = s.bundle(vec![dep, lifted.clone()]);
        let before = s.roots();
        let out = s.block(legs);
        assert!(
            out.iter().all(|e| matches!(&e.outcome, Outcome::Reverted { leg: 0, reason, .. } if reason.contains("from"))),
            "{out:?}"
        );
        // ... and beside any leg that applies, the token rollup refuses a payer other than
        // the leg's sender, so the thief's bundle reverts whole.
        let any = s.tx(
            OPTIONS,
            &thief,
            Op::Quote {
                series: s.put,
                bid: 1,
                ask: 2,
                size: 1,
            }
            .encode(),
        );
        let legs = s.bundle(vec![any, lifted]);
        let out = s.block(legs);
        assert!(
            out.iter().all(|e| matches!(&e.outcome, Outcome::Reverted { leg: 1, reason, .. } if reason.contains("not the leg's sender"))),
            "{out:?}"
        );
        assert_eq!(s.roots(), before);
        // ... or as a plain transfer: a leg's transfer is signed in the leg domain only.
        let mut plain = pay;
        plain.leg = None;
        let out = s.block(vec![plain]);
        assert!(
            matches!(&out[0].outcome, Outcome::Skipped(r) if r.contains("signature")),
            "{out:?}"
        );
        assert_eq!(s.roots(), before);
    }

    #[test]
    fn rules_refuse_with_reasons() {
        let mut s = Scenario::new(1_000);
        let (taker, maker) = (s.taker.clone(), s.maker.clone());
        let fake_price = s.tx(OPTIONS, &taker, Op::PostPrice { price: 1 }.encode());
        let lone_deposit = s.tx(OPTIONS, &taker, Op::Deposit { amount: 5 }.encode());
        let crossed = s.tx(
            OPTIONS,
            &maker,
            Op::Quote {
                series: s.call,
                bid: 9,
                ask: 8,
                size: 1,
            }
            .encode(),
        );
        let junk = s.tx(OPTIONS, &maker, vec![9, 9]);
        let out = s.block(vec![fake_price, lone_deposit, crossed, junk]);
        let reasons: Vec<String> = out
            .iter()
            .map(|e| match &e.outcome {
                Outcome::Skipped(r) => r.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(reasons[0].contains("oracle"));
        assert!(reasons[1].contains("bundle leg"));
        assert!(reasons[2].contains("above ask"));
        assert!(reasons[3].contains("malformed"));
        // A short without collateral: the taker sells a put it cannot cover.
        s.setup();
        let big = Op::Trade {
            maker: pk(&maker),
            legs: vec![TradeLeg {
                series: s.put,
                side: Side::Sell,
                quantity: 6,
            }],
            premium_max: 0,
        };
        let leg = s.tx(OPTIONS, &taker, big.encode());
        let pay = s.transfer(&taker, pk(&maker), 0);
        let legs = s.bundle(vec![leg, pay]);
        let out = s.block(legs);
        assert!(
            matches!(&out[0].outcome, Outcome::Reverted { .. }),
            "{out:?}"
        );
        for op in [
            Op::Trade {
                maker: [1; 32],
                legs: vec![TradeLeg {
                    series: s.call,
                    side: Side::Sell,
                    quantity: 2,
                }],
                premium_max: 9,
            },
            Op::Settle { series: s.put },
            Op::Quote {
                series: s.put,
                bid: 1,
                ask: 2,
                size: 3,
            },
        ] {
            assert_eq!(Op::decode(&op.encode()), Ok(op));
        }
    }
}
