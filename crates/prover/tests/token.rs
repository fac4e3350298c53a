//! The token batch STARK: honest batches prove and verify and agree with the rollup's own
//! execution; every way of cheating the issue names is refused by the verifier.

use commonware_cryptography::Signer as _;
use weft_prover::token::{self, PublicInputs, Tamper, Witness};
use weft_rollup_token::{commitment, Record, Skip, TokenState, Transfer, Word};
use weft_types::SigningKey;

fn key(seed: u64) -> SigningKey {
    SigningKey::from_seed(seed)
}
fn pk(k: &SigningKey) -> [u8; 32] {
    k.public_key().as_ref().try_into().unwrap()
}

fn header(batch_index: u64) -> Word {
    commitment::header_digest(7, batch_index, (10, 0), (12, 3))
}

struct Batch {
    witness: Witness,
    records: Vec<Record>,
    outcomes: Vec<Result<(), Skip>>,
    post_root: Word,
}

fn domain() -> weft_rollup_token::TransferDomain {
    weft_rollup_token::TransferDomain {
        chain: weft_types::ChainId(weft_types::sha256(&[b"prover tests"])),
        rollup: weft_types::NamespaceId(7),
    }
}

/// Alice and Bob with balances, then: valid transfers, a transfer to a new account, and
/// skipped ones (overdraft, wrong nonce, unknown sender, recipient overflow).
fn batch() -> Batch {
    let (alice, bob, carol, stranger, whale) = (key(1), key(2), key(3), key(4), key(5));
    let mut state = TokenState::genesis(&[
        (pk(&alice), 1_000),
        (pk(&bob), (1u64 << 32) + 5),
        (pk(&whale), u64::MAX - 10),
    ]);
    let transfers = [
        Transfer::sign(&alice, &domain(), pk(&bob), 100, 0),
        Transfer::sign(&bob, &domain(), pk(&carol), (1u64 << 32) + 50, 0), // borrows across limbs
        Transfer::sign(&alice, &domain(), pk(&bob), 5_000, 1),             // overdraft: skipped
        Transfer::sign(&alice, &domain(), pk(&bob), 1, 3),                 // skipped nonce: skipped
        Transfer::sign(&stranger, &domain(), pk(&bob), 1, 0), // unknown sender: skipped
        Transfer::sign(&alice, &domain(), pk(&whale), 11, 1), // overflow: skipped
        Transfer::sign(&alice, &domain(), pk(&whale), 10, 1), // exactly fills: applied
    ];
    let records: Vec<Record> = transfers
        .iter()
        .map(|t| Record::from_transfer(t, &domain()).unwrap())
        .collect();
    let (witness, outcomes) = Witness::build(header(0), &mut state, &records);
    Batch {
        witness,
        records,
        outcomes,
        post_root: state.root(),
    }
}

#[test]
fn an_honest_batch_proves_verifies_and_matches_the_rollup() {
    let b = batch();
    let applied: Vec<bool> = b.outcomes.iter().map(|o| o.is_ok()).collect();
    assert_eq!(applied, [true, true, false, false, false, false, true]);
    let (inputs, proof) = token::prove(&b.witness).unwrap();
    assert_eq!(
        inputs.new_root, b.post_root,
        "the proof's new root is the rollup's"
    );
    assert_eq!(inputs.old_root, b.witness.old_root);
    assert_eq!(
        inputs.commitment,
        commitment::commitment(&header(0), &b.records),
        "the verifier recomputes the commitment from the records alone"
    );
    let bytes = proof.to_bytes();
    token::verify(&inputs, &bytes).unwrap();

    // Public inputs that differ from what was proven are refused.
    let mut changed_root = inputs;
    changed_root.new_root[0] += winter_math::fields::f64::BaseElement::new(1);
    assert!(
        token::verify(&changed_root, &bytes).is_err(),
        "changed new root"
    );

    let mut records = b.records.clone();
    records[0].amount += 1;
    let changed_amount = PublicInputs {
        commitment: commitment::commitment(&header(0), &records),
        ..inputs
    };
    assert!(
        token::verify(&changed_amount, &bytes).is_err(),
        "changed amount"
    );

    let other_batch = PublicInputs {
        header: header(1),
        commitment: commitment::commitment(&header(1), &b.records),
        ..inputs
    };
    assert!(
        token::verify(&other_batch, &bytes).is_err(),
        "a proof presented for another batch"
    );

    assert!(
        token::verify(&inputs, &bytes[..bytes.len() - 1]).is_err(),
        "truncated"
    );
    for at in [0, 17, bytes.len() / 2, bytes.len() - 3] {
        let mut flipped = bytes.clone();
        flipped[at] ^= 0x10;
        assert!(
            token::verify(&inputs, &flipped).is_err(),
            "bit flipped at {at}"
        );
    }
}

/// A cheating prover's trace yields a proof of its (false) statement; the verifier must
/// refuse it.
fn refused(tamper: Tamper, what: &str) {
    let b = batch();
    let (inputs, proof) = token::prove_with(&b.witness, Some(tamper)).unwrap();
    assert!(
        token::verify(&inputs, &proof.to_bytes()).is_err(),
        "{what}: a cheating proof verified"
    );
}

#[test]
fn an_overdraft_that_would_wrap_the_balance_is_refused() {
    // Record 2 spends 5,000 of 900: applying it wraps the sender's balance.
    refused(Tamper::ForceApply(2), "overdraft");
}

#[test]
fn a_skipped_nonce_is_refused() {
    // Record 3 uses nonce 3 where the account is at 1.
    refused(Tamper::ForceApply(3), "skipped nonce");
}

#[test]
fn spending_from_someone_elses_or_no_account_and_overflowing_are_refused() {
    refused(Tamper::ForceApply(4), "unknown sender");
    refused(Tamper::ForceApply(5), "recipient overflow");
}

#[test]
fn skipping_a_valid_transfer_is_refused() {
    refused(Tamper::ForceSkip(0), "censored transfer");
}

#[test]
fn witnesses_are_decoded_with_bounds() {
    let b = batch();
    let bytes = b.witness.encode();
    assert_eq!(Witness::decode(&bytes).unwrap(), b.witness);
    assert!(
        Witness::decode(&bytes[..bytes.len() - 8]).is_err(),
        "truncated"
    );
    let mut count = bytes.clone();
    count[64..72].copy_from_slice(&3u64.to_le_bytes());
    assert!(Witness::decode(&count)
        .unwrap_err()
        .contains("power of two"));
    let mut huge = bytes.clone();
    huge[64..72].copy_from_slice(&(1u64 << 40).to_le_bytes());
    assert!(
        Witness::decode(&huge).is_err(),
        "no allocation from a claimed count"
    );
    let mut noncanonical = bytes;
    noncanonical[0..8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(Witness::decode(&noncanonical)
        .unwrap_err()
        .contains("canonical"));
}

/// Found by the `proof` fuzz target: a proof whose trace-length byte says 2^86 rows made
/// winterfell's decoder overflow (a panic in checked builds) before any of our checks ran.
#[test]
fn a_proof_claiming_an_enormous_trace_is_an_error_not_a_panic() {
    let mut proof = vec![0x56u8; 49];
    proof.extend_from_slice(&[0; 6]);
    let inputs = PublicInputs::decode(&[0u8; weft_prover::token::STATEMENT_BYTES]).unwrap();
    let err = weft_prover::token::verify(&inputs, &proof).unwrap_err();
    assert!(err.contains("not this backend's"), "{err}");
    // Every trace-length byte from 0 to 255 is an error or a verdict, never a panic.
    for k in 0..=255u8 {
        let mut p = proof.clone();
        p[0] = 52;
        p[1] = 0;
        p[2] = 0;
        p[3] = k;
        assert!(weft_prover::token::verify(&inputs, &p).is_err());
    }
}

/// Found by the `proof` fuzz target after the first fix: an empty auxiliary segment that
/// asks for random elements tripped an assert in winterfell's `TraceInfo` constructor.
#[test]
fn a_proof_header_winterfell_would_assert_on_is_an_error_not_a_panic() {
    let inputs = PublicInputs::decode(&[0u8; weft_prover::token::STATEMENT_BYTES]).unwrap();
    // main width 52, aux width 0, 1 aux random element, 2^9 rows, then junk.
    let mut proof = vec![52u8, 0, 1, 9, 0, 0];
    proof.extend_from_slice(&[0xab; 64]);
    assert!(weft_prover::token::verify(&inputs, &proof).is_err());
    // Options winterfell's constructor asserts on (zero queries) after a valid trace info.
    let mut bad_options = vec![52u8, 0, 0, 9, 0, 0, 8];
    bad_options.extend_from_slice(&[1; 8]);
    bad_options.extend_from_slice(&[0; 64]);
    assert!(weft_prover::token::verify(&inputs, &bad_options).is_err());
}

/// Found by the `proof` fuzz target after the second fix: a short proof whose query count
/// claimed 17 GB made winterfell allocate it up front. Counts are now bounded by the bytes
/// left, so such a proof is refused at once.
#[test]
fn a_proof_claiming_more_elements_than_bytes_is_refused_without_allocating_them() {
    let inputs = PublicInputs::decode(&[0u8; weft_prover::token::STATEMENT_BYTES]).unwrap();
    let artifact = include_bytes!("fuzz-oom-proof.bin");
    let n = u16::from_be_bytes([artifact[0], artifact[1]]) as usize;
    let rest = &artifact[2..];
    let proof = &rest[n.min(rest.len())..];
    let err = weft_prover::token::verify(&inputs, proof).unwrap_err();
    assert!(err.contains("claimed with"), "{err}");
}

/// Found by the `proof` fuzz target after the third fix: a proof opening zero queries hit an
/// assert in winterfell's verifier.
#[test]
fn a_proof_opening_no_queries_is_refused() {
    let inputs = PublicInputs::decode(&[0u8; weft_prover::token::STATEMENT_BYTES]).unwrap();
    let artifact = include_bytes!("fuzz-no-queries-proof.bin");
    let n = u16::from_be_bytes([artifact[0], artifact[1]]) as usize;
    let rest = &artifact[2..];
    let statement = &rest[..n.min(rest.len())];
    let proof = &rest[n.min(rest.len())..];
    let inputs = PublicInputs::decode(statement).unwrap_or(inputs);
    let err = weft_prover::token::verify(&inputs, proof).unwrap_err();
    assert!(err.contains("queries"), "{err}");
}
