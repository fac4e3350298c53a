//! Pre-confirmation receipts.
//!
//! The validator that accepts a transaction signs a [`Receipt`]: a promise that the
//! transaction is in a finalized block at a height at most `deadline_height`, unless a
//! different transaction with the same `(sender, nonce)` was finalized first (the sender's
//! own conflict). A receipt whose promise is broken is slashing evidence against its issuer.
//!
//! Encoding (fixed [`RECEIPT_BYTES`], big-endian):
//! `version (1) | chain (32) | namespace (8) | tx hash (32) | sender (32) | nonce (8) |
//! issued_height (8) | deadline_height (8) | issuer (32) | signature (64)`.
//! The issuer signs everything before the signature in the domain
//! `weft/preconf/v1@<chain>` ([`RECEIPT_SIGNING_NAMESPACE`] bound to the chain), so a receipt
//! is valid on one network only, and a receipt cannot be confused with any other Weft
//! signature (transactions, votes and p2p handshakes use other domains).
//!
//! # The deadline rule
//!
//! An issuer signs at its finalized head `h` and sets `deadline = h + W`, where
//! `W = limits.preconf_window_heights` is part of genesis and at least
//! `PRECONF_LAG_HEIGHTS_MAX + 2n` for `n` validators ([`crate::Limits::validate_for`]). An
//! honest issuer keeps every promise while the network is live, whatever the Byzantine
//! validators (fewer than `n / 3`) do:
//! 1. It signs only while its head trails the highest height it has seen proposed by at most
//!    `PRECONF_LAG_HEIGHTS_MAX` (`L`), and only if it saw a proposal in the last few
//!    seconds (a restarted or cut-off validator's view of the tip is stale): the chain's tip
//!    is then at most `h + L`. It signs only as a validator of the current epoch and of the
//!    next where that is announced (`weft_consensus::epochs`): the window may cross one
//!    boundary, and in both epochs the issuer keeps its turn to lead; the boundary itself
//!    adds no height (its later views re-propose it).
//! 2. It signs only for a transaction its mempool holds as ready (every lower nonce of the
//!    sender finalized or pending), and marks it, with its pending predecessors, as
//!    promised. Promised transactions are selected before all others, earliest deadline
//!    first, and the issuer's outstanding promises are bounded so they always fit in one
//!    block (the liability bound, `mempool.preconf_txs_max` and `preconf_bytes_max`, and
//!    at most `namespaces_per_block_max` namespaces).
//! 3. Leaders rotate round-robin, so the issuer leads once in every `n` consecutive views,
//!    and each view adds at most one height. Within `n` views of signing, the issuer
//!    proposes a block at a height at most `h + L + n` that holds all its promises. While
//!    the network is live that block is finalized; one more rotation (`+ n`) covers a view
//!    of the issuer lost to a timeout before the network settles.
//!
//! A Byzantine leader can only add its own blocks (one height per view it leads, already
//! counted in `n`) and leave the transaction out of them; it cannot take the issuer's turn,
//! and a conflicting transaction with the same `(sender, nonce)` is the sender's conflict,
//! which the promise exempts and evidence can show. The issuer gossips the transaction before
//! it releases the receipt, so the other honest leaders hold it too and an issuer that
//! crashes right after signing (its pending log and receipts are durable, and reloaded on
//! restart) has it included by them. If no block is finalized in the window the network was
//! not live: evidence of a broken promise must show finalized headers across the whole
//! window, so a stall is no fault.
//!
//! # Bundle legs
//!
//! A receipt for a bundle leg has version [`RECEIPT_VERSION_LEG`] and the same layout, for
//! the leg's own slot. It promises more, since a leg is never included alone: the *whole
//! bundle* is in a finalized block at a height at most `deadline_height`, unless a
//! different transaction took the `(sender, nonce)` slot of *any* leg first (that leg's
//! sender voided the bundle; evidence shows it, `crate::evidence` rule 7). The deadline
//! argument above holds for the bundle as one item, because an honest issuer promises a
//! bundle only when:
//! - every leg is pending and ready here (the union of the legs' pending predecessors is
//!   promised with it, and fits in the liability bound like any promise);
//! - none of those predecessors is a leg of another bundle (that bundle's fate is not the
//!   issuer's to keep), and
//! - the bundle's `valid_until` is at least the deadline, so it is still includable at
//!   every height the argument uses.
//!
//! Then the issuer's own block in the window can hold the whole bundle after the legs'
//! predecessors (block rule B5 puts legs last), and the legs' gossip precedes the receipt.
//!
//! Rules a valid receipt meets ([`Receipt::verify`]), numbered as their errors say:
//! 1. its version is [`RECEIPT_VERSION`] or [`RECEIPT_VERSION_LEG`];
//! 2. it names the verifier's chain;
//! 3. its issuer is in the validator set;
//! 4. `issued_height < deadline_height <= issued_height + window_max` (the deadline rule);
//! 5. the issuer's signature verifies;
//! 6. for the submitter, who holds the transaction: the receipt names the transaction's
//!    hash, namespace, sender and nonce, and its version is the one for the transaction's
//!    kind (a leg's receipt is [`RECEIPT_VERSION_LEG`]) ([`Receipt::verify_tx`]). A submitter should also
//!    refuse a receipt whose `issued_height` is ahead of the finalized head it observes by
//!    more than `PRECONF_LAG_HEIGHTS_MAX`: a far-future window postpones any evidence.

use crate::{ChainId, Digest, NamespaceId, SigningKey, Transaction, TxHash, VerifyingKey};
use bytes::BufMut;
use commonware_codec::{Error, FixedSize, Read, ReadExt, Write};
use commonware_cryptography::{ed25519, Signer as _, Verifier as _};
use thiserror::Error as ThisError;

/// Base of the receipt signing domain, bound to the chain (`ChainId::domain`).
pub const RECEIPT_SIGNING_NAMESPACE: &[u8] = b"weft/preconf/v1";
/// The receipt format for a plain transaction.
pub const RECEIPT_VERSION: u8 = 1;
/// The receipt format for a bundle leg: the promise covers the whole bundle (module docs).
pub const RECEIPT_VERSION_LEG: u8 = 2;
/// Bytes of the signed part of a receipt.
pub const PROMISE_BYTES: usize = 1 + 32 + 8 + 32 + 32 + 8 + 8 + 8 + 32;
/// Bytes of an encoded receipt.
pub const RECEIPT_BYTES: usize = PROMISE_BYTES + 64;
/// Where `deadline_height` sits in an encoded receipt (for readers that need only it, such
/// as the store's pruning).
pub const DEADLINE_OFFSET: usize = 1 + 32 + 8 + 32 + 32 + 8 + 8;

/// What the issuer promises (the signed part of a receipt).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Promise {
    /// Format version: [`RECEIPT_VERSION`], or [`RECEIPT_VERSION_LEG`] for a bundle leg.
    pub version: u8,
    /// The network the promise is about.
    pub chain: ChainId,
    /// The transaction's namespace.
    pub namespace: NamespaceId,
    /// The transaction.
    pub tx: TxHash,
    /// The transaction's sender (ed25519 key or Ethereum address, left-padded).
    pub sender: [u8; 32],
    /// The transaction's nonce.
    pub nonce: u64,
    /// The issuer's finalized head when it signed.
    pub issued_height: u64,
    /// The transaction is finalized at a height at most this.
    pub deadline_height: u64,
    /// The validator that signed.
    pub issuer: VerifyingKey,
}

impl Promise {
    /// The promise for `tx`, accepted by `issuer` at finalized head `issued_height`, due by
    /// `deadline_height`; a leg's promise is for its whole bundle ([`RECEIPT_VERSION_LEG`]).
    pub fn for_tx(
        chain: ChainId,
        tx: &Transaction,
        issued_height: u64,
        deadline_height: u64,
        issuer: VerifyingKey,
    ) -> Self {
        Self {
            version: if tx.leg().is_some() {
                RECEIPT_VERSION_LEG
            } else {
                RECEIPT_VERSION
            },
            chain,
            namespace: tx.namespace(),
            tx: tx.hash(),
            sender: *tx.sender(),
            nonce: tx.nonce(),
            issued_height,
            deadline_height,
            issuer,
        }
    }

    /// Signs the promise. The node signs only through its persisting signer, which records
    /// the receipt durably before releasing it; this is the primitive it uses.
    pub fn sign(self, key: &SigningKey) -> Receipt {
        let mut bytes = Vec::with_capacity(PROMISE_BYTES);
        self.write(&mut bytes);
        let signature = key.sign(&self.chain.domain(RECEIPT_SIGNING_NAMESPACE), &bytes);
        Receipt {
            promise: self,
            signature,
        }
    }
}

impl Write for Promise {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_u8(self.version);
        buf.put_slice(self.chain.0.as_ref());
        buf.put_u64(self.namespace.0);
        buf.put_slice(self.tx.as_bytes());
        buf.put_slice(&self.sender);
        buf.put_u64(self.nonce);
        buf.put_u64(self.issued_height);
        buf.put_u64(self.deadline_height);
        self.issuer.write(buf);
    }
}

impl Read for Promise {
    type Cfg = ();
    fn read_cfg(buf: &mut impl commonware_codec::Buf, _: &()) -> Result<Self, Error> {
        let version = u8::read(buf)?;
        let chain = ChainId(Digest::read(buf)?);
        let namespace = NamespaceId(u64::read(buf)?);
        let tx = TxHash(Digest::read(buf)?);
        let sender = <[u8; 32]>::read(buf)?;
        let nonce = u64::read(buf)?;
        let issued_height = u64::read(buf)?;
        let deadline_height = u64::read(buf)?;
        let issuer = VerifyingKey::read(buf)?;
        Ok(Self {
            version,
            chain,
            namespace,
            tx,
            sender,
            nonce,
            issued_height,
            deadline_height,
            issuer,
        })
    }
}

impl FixedSize for Promise {
    const SIZE: usize = PROMISE_BYTES;
}

/// A signed pre-confirmation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// What is promised.
    pub promise: Promise,
    /// The issuer's signature over the encoded promise, in the receipt domain.
    pub signature: ed25519::Signature,
}

/// Why a receipt is not valid (the numbers are the module's rules).
#[derive(Debug, ThisError, Clone, PartialEq, Eq)]
pub enum ReceiptError {
    /// Rule 1.
    #[error("rule 1: receipt version {found}, expected {expected}")]
    Version {
        /// The receipt's version.
        found: u8,
        /// The versions this code accepts.
        expected: &'static str,
    },
    /// Rule 2.
    #[error("rule 2: receipt is for chain {found}, not {expected}")]
    WrongChain {
        /// The receipt's chain.
        found: String,
        /// The verifier's chain.
        expected: String,
    },
    /// Rule 3.
    #[error("rule 3: issuer {issuer} is not a validator")]
    UnknownIssuer {
        /// The claimed issuer.
        issuer: String,
    },
    /// Rule 4.
    #[error(
        "rule 4: deadline {deadline} is not in ({issued}, {issued} + {window_max}] (the deadline rule)"
    )]
    Deadline {
        /// Issued-at height.
        issued: u64,
        /// Deadline height.
        deadline: u64,
        /// The network's receipt window, in heights.
        window_max: u64,
    },
    /// Rule 5.
    #[error("rule 5: the issuer's signature does not verify")]
    BadSignature,
    /// Rule 6.
    #[error("rule 6: the receipt's {field} is not the transaction's")]
    NotForTx {
        /// The field that differs.
        field: &'static str,
    },
}

impl Receipt {
    /// Checks the receipt's rules (module docs) against the network's chain, validator set
    /// and receipt window.
    pub fn verify(
        &self,
        chain: &ChainId,
        validators: &[VerifyingKey],
        window_max: u64,
    ) -> Result<(), ReceiptError> {
        let p = &self.promise;
        if p.version != RECEIPT_VERSION && p.version != RECEIPT_VERSION_LEG {
            return Err(ReceiptError::Version {
                found: p.version,
                expected: "1 (a transaction) or 2 (a bundle leg)",
            });
        }
        if p.chain != *chain {
            return Err(ReceiptError::WrongChain {
                found: p.chain.to_string(),
                expected: chain.to_string(),
            });
        }
        if !validators.contains(&p.issuer) {
            return Err(ReceiptError::UnknownIssuer {
                issuer: crate::to_hex(p.issuer.as_ref()),
            });
        }
        let in_window = p.deadline_height > p.issued_height
            && p.deadline_height - p.issued_height <= window_max;
        if !in_window {
            return Err(ReceiptError::Deadline {
                issued: p.issued_height,
                deadline: p.deadline_height,
                window_max,
            });
        }
        let mut bytes = Vec::with_capacity(PROMISE_BYTES);
        p.write(&mut bytes);
        if !p.issuer.verify(
            &chain.domain(RECEIPT_SIGNING_NAMESPACE),
            &bytes,
            &self.signature,
        ) {
            return Err(ReceiptError::BadSignature);
        }
        Ok(())
    }
}

impl Receipt {
    /// Rule 6, which the submitter checks on the transaction it sent: the receipt names its
    /// hash, namespace, sender and nonce. A receipt bound to someone else's `(sender, nonce)`
    /// would let its issuer void the promise by finalizing its own transaction in that slot
    /// (a "conflict"), so a client must refuse it on arrival.
    pub fn verify_tx(&self, tx: &Transaction) -> Result<(), ReceiptError> {
        let p = &self.promise;
        let field = if p.tx != tx.hash() {
            "tx hash"
        } else if p.namespace != tx.namespace() {
            "namespace"
        } else if p.sender != *tx.sender() {
            "sender"
        } else if p.nonce != tx.nonce() {
            "nonce"
        } else if (p.version == RECEIPT_VERSION_LEG) != tx.leg().is_some() {
            // A plain receipt for a leg would promise less than the bundle (and the
            // reverse, a bundle promise for a lone transaction, names no bundle).
            "version"
        } else {
            return Ok(());
        };
        Err(ReceiptError::NotForTx { field })
    }

    /// Decodes untrusted bytes: exactly [`RECEIPT_BYTES`] of them.
    pub fn decode_bytes(bytes: &[u8]) -> Result<Self, crate::DecodeError> {
        use commonware_codec::Decode as _;
        if bytes.len() != RECEIPT_BYTES {
            return Err(crate::DecodeError::Malformed {
                what: "receipt",
                reason: format!("{} bytes, expected {RECEIPT_BYTES}", bytes.len()),
            });
        }
        Self::decode_cfg(commonware_codec::Copying(bytes), &()).map_err(|e| {
            crate::DecodeError::Malformed {
                what: "receipt",
                reason: e.to_string(),
            }
        })
    }
}

impl Write for Receipt {
    fn write(&self, buf: &mut impl BufMut) {
        self.promise.write(buf);
        self.signature.write(buf);
    }
}

impl Read for Receipt {
    type Cfg = ();
    fn read_cfg(buf: &mut impl commonware_codec::Buf, _: &()) -> Result<Self, Error> {
        let promise = Promise::read(buf)?;
        let signature = ed25519::Signature::read(buf)?;
        Ok(Self { promise, signature })
    }
}

impl FixedSize for Receipt {
    const SIZE: usize = RECEIPT_BYTES;
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{DecodeExt as _, Encode as _};

    fn receipt() -> (Receipt, Vec<VerifyingKey>) {
        let issuer = SigningKey::from_seed(1);
        let chain = crate::test_chain();
        let tx = Transaction::sign(
            &SigningKey::from_seed(2),
            &chain,
            NamespaceId(7),
            3,
            bytes::Bytes::from_static(b"pay"),
        );
        let promise = Promise::for_tx(chain, &tx, 10, 74, issuer.public_key());
        (promise.sign(&issuer), vec![issuer.public_key()])
    }

    /// The encoding and signature are fixed: a change to either breaks every receipt (and
    /// every piece of evidence) already issued, so it must be a new version.
    #[test]
    fn golden_vector() {
        let (r, _) = receipt();
        let bytes = r.encode();
        assert_eq!(bytes.len(), RECEIPT_BYTES);
        assert_eq!(hex::encode(&bytes), GOLDEN.concat());
        let at = &bytes[DEADLINE_OFFSET..DEADLINE_OFFSET + 8];
        assert_eq!(u64::from_be_bytes(at.try_into().unwrap()), 74);
        assert_eq!(Receipt::decode(bytes).unwrap(), r);
    }

    const GOLDEN: [&str; 10] = [
    "01", // version
    "8cbfd0f3421a82e682864b819b158152000ed4863554b1adfb6f045f0204854e", // chain
    "0000000000000007", // namespace 7
    "f705512d834e4a9f7e3d19df3d60b0b8358bdfed0d74ac6377554ef31e6eacc2", // tx hash
    "5925ba86e2189444a6c3b437b25d2ef35daecd1abf82c5fb36060f9fc0af428c", // sender
    "0000000000000003", // nonce 3
    "000000000000000a", // issued 10
    "000000000000004a", // deadline 74
    "478b8e507e0bb2b18c0f9e0824769e8562d10df9abe2e774896f82b4b4405266", // issuer
    "4cd8e3d68a7482c024af0d1dcd22e239bb7f68a1ce375ee59a2320e93e666acdfa0de60211085ce0f516552d3da531627ac19d933296f7b9fc99ed30f85c540b", // signature
    ];

    #[test]
    fn every_rule_is_enforced() {
        let (r, validators) = receipt();
        let chain = crate::test_chain();
        assert_eq!(r.verify(&chain, &validators, 64), Ok(()));

        let mut v = r.clone();
        v.promise.version = 3;
        assert!(matches!(
            v.verify(&chain, &validators, 64),
            Err(ReceiptError::Version { found: 3, .. })
        ));
        let other = ChainId(crate::sha256(&[b"another network"]));
        assert!(matches!(
            r.verify(&other, &validators, 64),
            Err(ReceiptError::WrongChain { .. })
        ));
        assert!(matches!(
            r.verify(&chain, &[SigningKey::from_seed(9).public_key()], 64),
            Err(ReceiptError::UnknownIssuer { .. })
        ));
        // 74 - 10 = 64 heights: inside a 64-height window, outside a 63-height one.
        assert!(matches!(
            r.verify(&chain, &validators, 63),
            Err(ReceiptError::Deadline { .. })
        ));
        // A receipt altered after signing (a later deadline) fails the signature.
        let mut late = r.clone();
        late.promise.deadline_height = 70;
        assert_eq!(
            late.verify(&chain, &validators, 64),
            Err(ReceiptError::BadSignature)
        );
        // Re-signed by someone else under the real issuer's name.
        let forged = late.promise.clone().sign(&SigningKey::from_seed(9));
        assert_eq!(
            forged.verify(&chain, &validators, 64),
            Err(ReceiptError::BadSignature)
        );
        // A deadline not after the issued height.
        let zero = Promise {
            deadline_height: 10,
            ..r.promise.clone()
        }
        .sign(&SigningKey::from_seed(1));
        assert!(matches!(
            zero.verify(&chain, &validators, 64),
            Err(ReceiptError::Deadline { .. })
        ));
    }

    /// A Byzantine issuer binds the promise to another (sender, nonce) slot, one it can fill
    /// itself to void the promise: the submitter's check refuses it.
    #[test]
    fn a_receipt_bound_to_another_slot_is_refused_by_the_submitter() {
        let (r, validators) = receipt();
        let chain = crate::test_chain();
        let tx = Transaction::sign(
            &SigningKey::from_seed(2),
            &chain,
            NamespaceId(7),
            3,
            bytes::Bytes::from_static(b"pay"),
        );
        assert_eq!(r.verify_tx(&tx), Ok(()));
        let issuer = SigningKey::from_seed(1);
        for (field, promise) in [
            (
                "sender",
                Promise {
                    sender: [9; 32],
                    ..r.promise.clone()
                },
            ),
            (
                "nonce",
                Promise {
                    nonce: 4,
                    ..r.promise.clone()
                },
            ),
            (
                "namespace",
                Promise {
                    namespace: NamespaceId(8),
                    ..r.promise.clone()
                },
            ),
        ] {
            let signed = promise.sign(&issuer);
            // Valid as a signed statement, refused as a receipt for this transaction.
            assert_eq!(signed.verify(&chain, &validators, 64), Ok(()));
            assert_eq!(signed.verify_tx(&tx), Err(ReceiptError::NotForTx { field }));
        }
    }

    /// A leg's receipt is version 2 (the promise covers its bundle); the submitter refuses a
    /// plain receipt for a leg, which would promise less.
    #[test]
    fn a_legs_receipt_is_a_bundle_promise() {
        let chain = crate::test_chain();
        let (a, b) = (SigningKey::from_seed(2), SigningKey::from_seed(3));
        let spec = |ns: u64| crate::LegSpec {
            namespace: NamespaceId(ns),
            nonce: 0,
            payload: bytes::Bytes::from_static(b"leg"),
        };
        let legs = Transaction::sign_bundle(&chain, 100, &[(&a, spec(7)), (&b, spec(8))]).unwrap();
        let issuer = SigningKey::from_seed(1);
        let validators = vec![issuer.public_key()];
        let promise = Promise::for_tx(chain, &legs[1], 10, 74, issuer.public_key());
        assert_eq!(promise.version, RECEIPT_VERSION_LEG);
        let r = promise.clone().sign(&issuer);
        assert_eq!(r.verify(&chain, &validators, 64), Ok(()));
        assert_eq!(r.verify_tx(&legs[1]), Ok(()));
        let plain = Promise {
            version: RECEIPT_VERSION,
            ..promise
        }
        .sign(&issuer);
        assert_eq!(plain.verify(&chain, &validators, 64), Ok(()));
        assert_eq!(
            plain.verify_tx(&legs[1]),
            Err(ReceiptError::NotForTx { field: "version" })
        );
        let (r, _) = receipt();
        let as_leg = Promise {
            version: RECEIPT_VERSION_LEG,
            ..r.promise
        }
        .sign(&issuer);
        let tx = Transaction::sign(
            &SigningKey::from_seed(2),
            &chain,
            NamespaceId(7),
            3,
            bytes::Bytes::from_static(b"pay"),
        );
        assert_eq!(
            as_leg.verify_tx(&tx),
            Err(ReceiptError::NotForTx { field: "version" })
        );
    }

    #[test]
    fn truncated_bytes_are_refused() {
        let (r, _) = receipt();
        let bytes = r.encode();
        for cut in [0, 1, PROMISE_BYTES, RECEIPT_BYTES - 1] {
            assert!(
                Receipt::decode(bytes::Bytes::copy_from_slice(&bytes[..cut])).is_err(),
                "cut at {cut}"
            );
        }
        let mut long = bytes.to_vec();
        long.push(0);
        assert!(Receipt::decode_bytes(&long).is_err());
        assert!(Receipt::decode(bytes::Bytes::from(long)).is_err());
        for cut in [0, PROMISE_BYTES, RECEIPT_BYTES - 1] {
            assert!(Receipt::decode_bytes(&bytes[..cut]).is_err());
        }
        assert_eq!(Receipt::decode_bytes(&bytes).unwrap(), r);
    }
}
