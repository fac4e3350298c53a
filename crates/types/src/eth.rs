//! Ethereum transactions carried as Weft transactions.
//!
//! A signed Ethereum transaction (legacy with EIP-155 replay protection, EIP-2930, EIP-1559
//! or EIP-7702; EIP-2718 encoding) goes into Weft unchanged: the raw bytes are the payload,
//! the chain id selects the namespace, the signer recovered from the signature is the sender,
//! and the transaction's hash is its Ethereum hash (keccak-256 of the raw bytes), so wallets
//! find it by the hash they computed. Ethereum nonces count per chain, so an Ethereum sender's
//! id is `0xEEEEEEEE || chain_id || address`.

use alloy_consensus::{transaction::SignerRecoverable as _, Transaction as _, TxEnvelope};
use alloy_eips::eip2718::Decodable2718 as _;
use thiserror::Error;

/// What Weft needs of a signed Ethereum transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EthTx {
    /// EIP-155 chain id: the namespace.
    pub chain_id: u64,
    /// Account nonce.
    pub nonce: u64,
    /// Recovered signer.
    pub from: [u8; 20],
    /// Ethereum transaction hash (keccak-256 of the raw bytes).
    pub hash: [u8; 32],
}

/// Why raw bytes are not an acceptable Ethereum transaction.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EthError {
    /// Not a valid EIP-2718 / RLP encoding.
    #[error("malformed Ethereum transaction: {0}")]
    Malformed(String),
    /// A legacy transaction without EIP-155 replay protection names no chain.
    #[error("unknown chain id: the transaction has no chain id (pre-EIP-155 legacy transactions are refused)")]
    NoChainId,
    /// The transaction type is not accepted.
    #[error("unsupported Ethereum transaction type: {0}")]
    Unsupported(&'static str),
    /// The signature does not yield a signer (invalid values or high s, EIP-2).
    #[error("invalid Ethereum signature: {0}")]
    BadSignature(String),
}

/// Sender id of an Ethereum account on a chain (the nonce sequence it owns).
pub fn sender_id(chain_id: u64, address: &[u8; 20]) -> [u8; 32] {
    let mut id = [0xEE; 32];
    id[4..12].copy_from_slice(&chain_id.to_be_bytes());
    id[12..].copy_from_slice(address);
    id
}

/// The address inside an Ethereum sender id.
pub fn address_of(sender: &[u8; 32]) -> [u8; 20] {
    sender[12..].try_into().expect("20 bytes")
}

/// Decodes raw bytes and recovers the signer (about 0.1 ms: call once per transaction).
pub fn decode(raw: &[u8]) -> Result<EthTx, EthError> {
    let mut buf = raw;
    let envelope =
        TxEnvelope::decode_2718(&mut buf).map_err(|e| EthError::Malformed(e.to_string()))?;
    if !buf.is_empty() {
        return Err(EthError::Malformed(format!("{} trailing bytes", buf.len())));
    }
    if envelope.is_eip4844() {
        return Err(EthError::Unsupported(
            "EIP-4844 blob transactions (their blobs are not carried)",
        ));
    }
    let chain_id = envelope.chain_id().ok_or(EthError::NoChainId)?;
    let from = envelope
        .recover_signer()
        .map_err(|e| EthError::BadSignature(e.to_string()))?;
    Ok(EthTx {
        chain_id,
        nonce: envelope.nonce(),
        from: from.into_array(),
        hash: envelope.tx_hash().0,
    })
}

/// Keccak-256.
pub fn keccak(bytes: &[u8]) -> [u8; 32] {
    alloy_primitives::keccak256(bytes).0
}

/// Signed Ethereum transactions for tests (feature `test-utils`).
#[cfg(any(test, feature = "test-utils"))]
pub mod testing {
    use alloy_consensus::{SignableTransaction, TxEip1559, TxEip2930, TxEnvelope, TxLegacy};
    use alloy_eips::eip2718::Encodable2718 as _;
    use alloy_primitives::{Address, TxKind, U256};
    use alloy_signer::SignerSync as _;
    use alloy_signer_local::PrivateKeySigner;

    /// Ethereum transaction types Weft accepts.
    #[derive(Clone, Copy, Debug)]
    pub enum Kind {
        /// Legacy with EIP-155 chain id.
        Legacy,
        /// Pre-EIP-155 legacy (no chain id): refused.
        LegacyNoChainId,
        /// EIP-2930 access-list transaction.
        Eip2930,
        /// EIP-1559 fee-market transaction.
        Eip1559,
    }

    /// A deterministic signer.
    pub fn signer(seed: u8) -> PrivateKeySigner {
        PrivateKeySigner::from_slice(&[seed.max(1); 32]).expect("valid secp256k1 key")
    }

    /// The signer's address.
    pub fn address(seed: u8) -> [u8; 20] {
        signer(seed).address().into_array()
    }

    /// Raw EIP-2718 bytes of a transaction of `kind` signed by `signer(seed)`.
    pub fn signed(kind: Kind, seed: u8, chain_id: u64, nonce: u64) -> Vec<u8> {
        let signer = signer(seed);
        let to = TxKind::Call(Address::repeat_byte(0x42));
        let value = U256::from(1_000 + nonce);
        let envelope: TxEnvelope = match kind {
            Kind::Legacy | Kind::LegacyNoChainId => {
                let tx = TxLegacy {
                    chain_id: matches!(kind, Kind::Legacy).then_some(chain_id),
                    nonce,
                    gas_price: 1_000_000_000,
                    gas_limit: 21_000,
                    to,
                    value,
                    input: Default::default(),
                };
                let sig = signer.sign_hash_sync(&tx.signature_hash()).expect("sign");
                tx.into_signed(sig).into()
            }
            Kind::Eip2930 => {
                let tx = TxEip2930 {
                    chain_id,
                    nonce,
                    gas_price: 1_000_000_000,
                    gas_limit: 30_000,
                    to,
                    value,
                    ..Default::default()
                };
                let sig = signer.sign_hash_sync(&tx.signature_hash()).expect("sign");
                tx.into_signed(sig).into()
            }
            Kind::Eip1559 => {
                let tx = TxEip1559 {
                    chain_id,
                    nonce,
                    gas_limit: 21_000,
                    max_fee_per_gas: 2_000_000_000,
                    max_priority_fee_per_gas: 1_000_000_000,
                    to,
                    value,
                    ..Default::default()
                };
                let sig = signer.sign_hash_sync(&tx.signature_hash()).expect("sign");
                tx.into_signed(sig).into()
            }
        };
        envelope.encoded_2718()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{address, signed, Kind};
    use super::*;
    #[allow(unused_imports)]
    use crate::test_chain;
    use crate::{Limits, NamespaceId, Transaction, TxError};
    use bytes::Bytes;
    use commonware_codec::Encode as _;

    #[test]
    fn every_accepted_type_decodes_to_its_chain_nonce_signer_and_hash() {
        for (i, kind) in [Kind::Legacy, Kind::Eip2930, Kind::Eip1559]
            .into_iter()
            .enumerate()
        {
            let raw = signed(kind, 3, 1337, i as u64);
            let tx = Transaction::ethereum(Bytes::from(raw.clone())).unwrap();
            assert_eq!(tx.namespace(), NamespaceId(1337), "{kind:?}");
            assert_eq!(tx.nonce(), i as u64);
            assert_eq!(*tx.sender(), sender_id(1337, &address(3)));
            assert_eq!(tx.hash().as_bytes(), &keccak(&raw), "the Ethereum hash");
            assert_eq!(tx.payload().as_ref(), raw.as_slice());
            tx.check(&Limits::default(), &test_chain()).unwrap();
            // Through Weft's wire format and back: still checks, lazily.
            let back = Transaction::decode_untrusted(&tx.encode(), &Limits::default()).unwrap();
            assert_eq!(back, tx);
            assert_eq!(
                Transaction::verify_signatures(&[&back], &test_chain()),
                vec![true]
            );
        }
    }

    #[test]
    fn per_chain_nonces_are_separate_senders() {
        assert_ne!(sender_id(1, &address(3)), sender_id(2, &address(3)));
        assert_eq!(address_of(&sender_id(9, &address(3))), address(3));
    }

    #[test]
    fn bad_ethereum_transactions_get_specific_errors() {
        let err = |raw: Vec<u8>| Transaction::ethereum(Bytes::from(raw)).unwrap_err();
        assert!(matches!(
            err(vec![0xc0, 0x01]),
            TxError::Ethereum(EthError::Malformed(_))
        ));
        assert!(matches!(
            err(vec![0x02, 0xff, 0xff]),
            TxError::Ethereum(EthError::Malformed(_))
        ));
        assert_eq!(
            err(signed(Kind::LegacyNoChainId, 3, 0, 0)),
            TxError::Ethereum(EthError::NoChainId)
        );
        let mut trailing = signed(Kind::Eip1559, 3, 5, 0);
        trailing.push(0);
        assert!(matches!(
            err(trailing),
            TxError::Ethereum(EthError::Malformed(_))
        ));
        // A zeroed signature recovers no signer.
        let mut raw = signed(Kind::Eip1559, 3, 5, 0);
        let len = raw.len();
        for b in &mut raw[len - 64..] {
            *b = 0;
        }
        assert!(matches!(
            err(raw),
            TxError::Ethereum(EthError::BadSignature(_))
                | TxError::Ethereum(EthError::Malformed(_))
        ));
    }

    #[test]
    fn a_wrapper_that_lies_about_the_raw_transaction_fails_verification() {
        let real = Transaction::ethereum(Bytes::from(signed(Kind::Eip1559, 3, 5, 7))).unwrap();
        // Same raw bytes, but claiming another nonce: decodes, never verifies.
        let mut bytes = real.encode().to_vec();
        bytes[1 + 8 + 32 + 7] ^= 1; // last byte of the claimed nonce
        let lie = Transaction::decode_untrusted(&bytes, &Limits::default()).unwrap();
        assert_eq!(
            lie.check(&Limits::default(), &test_chain()),
            Err(TxError::EthMismatch)
        );
        assert_eq!(
            Transaction::verify_signatures(&[&real, &lie], &test_chain()),
            vec![true, false]
        );
    }
}
