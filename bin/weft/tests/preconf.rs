//! Pre-confirmations against four real validator processes: every validator signs a receipt
//! for what it accepts, stores it before returning it, serves it again, and the receipt
//! verifies offline against genesis; a tampered receipt does not. Every promise is kept,
//! including one whose issuer is SIGKILLed the moment it has signed. A Byzantine issuer that
//! signs and withholds is caught: the chain yields evidence that verifies offline, while a
//! kept promise's, or one voided by the sender's own conflict, does not.

mod common;

use common::*;
use commonware_cryptography::Signer as _;
use weft_client::{
    judge_preconfirmation,
    types::{PreconfEventJson, ReceiptJson},
    verify_broken_preconfirmation, verify_receipt, verify_receipt_for, ClientError, VerifyError,
};
use weft_types::{
    EvidenceError, Promise, ReceiptError, Verdict, VerifyingKey, DEFAULT_PRECONF_WINDOW_HEIGHTS,
};

/// A bundle leg's spec at nonce 0.
fn dying_spec(ns: u64, payload: &'static [u8]) -> weft_types::LegSpec {
    weft_types::LegSpec {
        namespace: weft_types::NamespaceId(ns),
        nonce: 0,
        payload: bytes::Bytes::from_static(payload),
    }
}

async fn validator_keys() -> Vec<VerifyingKey> {
    use commonware_codec::DecodeExt as _;
    client(0)
        .validators()
        .await
        .unwrap()
        .iter()
        .map(|v| {
            let bytes = weft_types::from_hex_fixed::<32>(&v.public_key).unwrap();
            VerifyingKey::decode(bytes.to_vec()).unwrap()
        })
        .collect()
}

/// The finalized height of `hash` as validator `i` reports it.
async fn finalized_height(i: usize, hash: &str) -> Option<u64> {
    match status(i, hash).await {
        Some(weft_client::types::TxStatus::Finalized { height, .. }) => Some(height),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_validator_signs_stores_and_keeps_its_promises() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut net = Net::create(dir.path(), 28_000);
    wait_all_started().await;
    let chain = client(0).chain_id().await.unwrap();
    let validators = validator_keys().await;
    let window = DEFAULT_PRECONF_WINDOW_HEIGHTS;
    // Warm up until the validators are connected (a receipt needs its transaction spread
    // to f + 1 peers first): one transaction finalized everywhere.
    let warmup = submit(0, &key(698), 1, 0, 1).await;
    wait_until("the warm-up transaction finalized everywhere", || {
        all_finalized(&[0, 1, 2, 3], &warmup)
    })
    .await;

    // One transaction to each validator, each asking for its receipt inline.
    let mut promised: Vec<(usize, String, ReceiptJson)> = Vec::new();
    for (i, validator) in validators.iter().enumerate() {
        let t = tx(&key(700 + i as u64), 1, 0, b"preconfirm me");
        let accepted = client(i)
            .send_transaction_with_receipt(&hex_of(&t))
            .await
            .expect("accepted");
        assert_eq!(accepted.hash, t.hash().to_string());
        let json = accepted
            .receipt
            .expect("a ready transaction gets a receipt");
        let receipt =
            verify_receipt_for(&json, &t, &chain, &validators, window).expect("valid receipt");
        let p = &receipt.promise;
        assert_eq!(&p.issuer, validator, "validator {i} signs its own receipts");
        assert_eq!((p.tx, p.nonce, p.namespace.0), (t.hash(), 0, 1));
        assert_eq!(p.sender, *t.sender());
        assert_eq!(p.deadline_height, p.issued_height + window);
        // Stored before it was returned: served again by its issuer, by no one else.
        let again = client(i).preconfirmation(&accepted.hash).await.unwrap();
        assert_eq!(again.as_ref(), Some(&json));
        let elsewhere = client((i + 1) % VALIDATORS)
            .preconfirmation(&accepted.hash)
            .await
            .unwrap();
        assert_eq!(elsewhere, None);
        promised.push((i, accepted.hash, json));
    }

    // Offline verification refuses a receipt whose fields were edited, or whose signed
    // bytes were (another nonce), or that is checked against another network.
    let (_, _, honest) = &promised[0];
    let mut edited = honest.clone();
    edited.deadline_height += 1;
    assert!(matches!(
        verify_receipt(&edited, &chain, &validators, window),
        Err(VerifyError::Malformed { .. })
    ));
    let mut bytes = weft_types::from_hex_fixed::<{ weft_types::RECEIPT_BYTES }>(&honest.encoded)
        .unwrap()
        .to_vec();
    bytes[1 + 32 + 8 + 32 + 32 + 7] ^= 1; // the nonce's last byte
    let resigned = ReceiptJson::of(&weft_types::Receipt::decode_bytes(&bytes).unwrap());
    assert!(matches!(
        verify_receipt(&resigned, &chain, &validators, window),
        Err(VerifyError::Receipt(ReceiptError::BadSignature))
    ));
    let other = weft_types::ChainId(weft_types::sha256(&[b"another network"]));
    assert!(matches!(
        verify_receipt(honest, &other, &validators, window),
        Err(VerifyError::Receipt(ReceiptError::WrongChain { .. }))
    ));

    // The issuer is SIGKILLed as soon as its receipt is in hand: the transaction had left
    // for the others before the receipt was released, and they keep the promise.
    let t = tx(&key(799), 2, 0, b"issuer dies now");
    let accepted = client(3)
        .send_transaction_with_receipt(&hex_of(&t))
        .await
        .expect("accepted");
    // And a bundle, whose legs' receipts promise it whole: it too left before them.
    let dies_head = client(3).head().await.unwrap().map_or(0, |h| h.height);
    let dying = weft_types::Transaction::sign_bundle(
        &chain,
        dies_head + window + 100,
        &[
            (&key(796), dying_spec(8, b"buy call as the issuer dies")),
            (&key(797), dying_spec(7, b"pay premium as the issuer dies")),
        ],
    )
    .unwrap();
    let bundle = client(3)
        .send_bundle(&dying)
        .await
        .expect("bundle accepted");
    net.kill(3);
    let json = accepted.receipt.expect("receipt");
    verify_receipt(&json, &chain, &validators, window).unwrap();
    promised.push((3, accepted.hash, json));
    for (leg, a) in dying.iter().zip(bundle.legs) {
        let json = a.receipt.expect("a bundle leg's receipt");
        verify_receipt_for(&json, leg, &chain, &validators, window).unwrap();
        promised.push((3, a.hash, json));
    }

    let hashes: Vec<String> = promised.iter().map(|(_, h, _)| h.clone()).collect();
    // Explained on timeout: a stalled chain (heads stuck) is not a lost transaction (a
    // broken promise); this test once timed out here under a loaded full-suite run.
    wait_until_explained(
        "every promised transaction finalized",
        || all_finalized(&[0, 1, 2], &hashes),
        || explain_statuses(&[0, 1, 2], &hashes),
    )
    .await;
    for (i, hash, json) in &promised {
        let height = finalized_height(0, hash).await.unwrap();
        assert!(
            height <= json.deadline_height,
            "validator {i}'s promise for {hash} broken: finalized at {height}, deadline {}",
            json.deadline_height
        );
        eprintln!(
            "receipt by validator {i}: issued {}, deadline {}, finalized at {height}",
            json.issued_height, json.deadline_height
        );
    }

    // The restarted issuer still has what it signed.
    net.start(3);
    wait_until("validator 3 restarted", || async {
        matches!(client(3).head().await, Ok(Some(_)))
    })
    .await;
    let (_, hash, json) = promised.last().unwrap();
    assert_eq!(
        client(3).preconfirmation(hash).await.unwrap().as_ref(),
        Some(json)
    );
    // The chain's answer about a kept promise: kept, at its height, and the evidence for it
    // does not verify as a broken promise.
    let limits = weft_types::Limits {
        preconf_window_heights: window,
        ..weft_types::Limits::default()
    };
    let (_, hash, json) = &promised[0];
    let answer = client(1)
        .preconfirmation_evidence(&json.encoded)
        .await
        .unwrap();
    let height = finalized_height(1, hash).await.unwrap();
    assert_eq!((answer.verdict.as_str(), answer.height), ("kept", height));
    let evidence = answer.evidence.expect("evidence of a kept promise");
    let kept_evidence = evidence.clone();
    assert_eq!(
        judge_preconfirmation(&evidence, &chain, &validators, &limits),
        Ok(Verdict::Kept { height })
    );
    assert!(matches!(
        verify_broken_preconfirmation(&evidence, &chain, &validators, &limits),
        Err(VerifyError::Evidence(EvidenceError::NotBroken(_)))
    ));

    // A Byzantine issuer: validator 0's operator signs promises out of band and never
    // delivers the transactions. One is withheld outright; for the other the sender's
    // different transaction with the same nonce is finalized instead (its own conflict).
    let byzantine = weft_node::read_key(&net.dir.join("node-0/validator.key")).unwrap();
    let head = client(1).head().await.unwrap().unwrap().height;
    let sign = |t: &weft_types::Transaction| {
        Promise::for_tx(chain, t, head, head + window, byzantine.public_key()).sign(&byzantine)
    };
    let withheld = sign(&tx(&key(800), 1, 0, b"withheld by its issuer"));
    let void = sign(&tx(&key(801), 1, 0, b"promised"));
    let instead = submit(2, &key(801), 1, 0, 1).await;
    // The same issuer promises two bundles it never submits. The first stays withheld; the
    // second's premium payer spends its leg's nonce elsewhere, voiding the bundle.
    let leg_spec = |ns: u64, payload: &'static [u8]| weft_types::LegSpec {
        namespace: weft_types::NamespaceId(ns),
        nonce: 0,
        payload: bytes::Bytes::from_static(payload),
    };
    let bundle_of = |a: u64, b: u64| {
        weft_types::Transaction::sign_bundle(
            &chain,
            head + window + 100,
            &[
                (&key(a), leg_spec(8, b"buy call")),
                (&key(b), leg_spec(7, b"pay premium")),
            ],
        )
        .unwrap()
    };
    let (hidden_bundle, voided_bundle) = (bundle_of(810, 811), bundle_of(812, 813));
    let hidden_leg = sign(&hidden_bundle[0]);
    let voided_leg = sign(&voided_bundle[0]);
    assert_eq!(
        hidden_leg.promise.version,
        weft_types::receipt::RECEIPT_VERSION_LEG
    );
    let spent = submit(2, &key(813), 7, 0, 1).await;
    for r in [&withheld, &void] {
        verify_receipt(&ReceiptJson::of(r), &chain, &validators, window).expect("a real receipt");
    }
    // A receipt bound to another (sender, nonce) than its transaction's (a slot the issuer
    // could fill itself to void the promise) is refused by the submitter on arrival.
    let t = tx(&key(802), 1, 0, b"mis-bound");
    let mut misbound = Promise::for_tx(chain, &t, head, head + window, byzantine.public_key());
    misbound.sender = *key(803).public_key().as_ref().first_chunk::<32>().unwrap();
    let misbound = ReceiptJson::of(&misbound.sign(&byzantine));
    assert!(verify_receipt(&misbound, &chain, &validators, window).is_ok());
    assert!(matches!(
        verify_receipt_for(&misbound, &t, &chain, &validators, window),
        Err(VerifyError::Receipt(ReceiptError::NotForTx {
            field: "sender"
        }))
    ));
    let encoded = |r: &weft_types::Receipt| ReceiptJson::of(r).encoded;
    let early = client(1)
        .preconfirmation_evidence(&encoded(&withheld))
        .await
        .unwrap();
    assert_eq!(
        early.verdict, "pending",
        "the window is still open: {early:?}"
    );
    assert!(early.evidence.is_none());
    wait_until("the withheld receipt's deadline finalized", || async {
        let answer = client(1)
            .preconfirmation_evidence(&encoded(&withheld))
            .await
            .unwrap();
        answer.verdict != "pending"
    })
    .await;
    let broken = client(1)
        .preconfirmation_evidence(&encoded(&withheld))
        .await
        .unwrap();
    assert_eq!(
        (broken.verdict.as_str(), broken.height),
        ("broken", head + window)
    );
    let evidence = broken.evidence.expect("evidence of a broken promise");
    // Offline, against genesis only: the issuer is validator 0.
    let accused = verify_broken_preconfirmation(&evidence, &chain, &validators, &limits)
        .expect("the evidence verifies");
    assert_eq!(accused, withheld);
    assert_eq!(accused.promise.issuer, validators[0]);
    eprintln!(
        "broken-promise evidence: {} bytes for a {window}-height window",
        evidence.len() / 2 - 1
    );
    // Any validator builds the same evidence from its own store.
    let again = client(2)
        .preconfirmation_evidence(&encoded(&withheld))
        .await
        .unwrap();
    assert_eq!(again.verdict, "broken");
    verify_broken_preconfirmation(&again.evidence.unwrap(), &chain, &validators, &limits)
        .expect("the evidence verifies");
    // The L1's staking program slashes the issuer on this evidence, checked against genesis
    // alone: it jails validator 0, takes 1% of its bonded stake, pays the reporter, and never
    // slashes the same receipt twice; a kept promise's evidence slashes nothing.
    slash_on_the_l1(
        &byzantine,
        &evidence,
        &kept_evidence,
        weft_rollup::l1::WeftTrust {
            sets: weft_rollup::l1::TrustedSets::Fixed(validators.clone()),
            chain,
            limits,
        },
    );
    // A bit flipped anywhere in a slot proof or header breaks it.
    let mut bytes = hex::decode(&evidence[2..]).unwrap();
    let mid = bytes.len() - 40;
    bytes[mid] ^= 1;
    assert!(verify_broken_preconfirmation(
        &format!("0x{}", hex::encode(&bytes)),
        &chain,
        &validators,
        &limits
    )
    .is_err());
    // Evidence checked against another validator set does not verify.
    let strangers: Vec<VerifyingKey> = (0..4).map(|i| key(900 + i).public_key()).collect();
    assert!(verify_broken_preconfirmation(&evidence, &chain, &strangers, &limits).is_err());

    // The sender's conflict is no fault of the issuer's.
    let answer = client(1)
        .preconfirmation_evidence(&encoded(&void))
        .await
        .unwrap();
    assert_eq!(answer.verdict, "conflict", "{answer:?}");
    assert_eq!(answer.tx.as_deref(), Some(instead[0].as_str()));
    assert!(matches!(
        judge_preconfirmation(&answer.evidence.unwrap(), &chain, &validators, &limits),
        Ok(Verdict::Conflict { .. })
    ));
    // A bundle leg's receipt: the withheld bundle's evidence covers both legs' slots and
    // verifies offline; the voided one shows the counterparty's conflict, no fault.
    let legs_hex = |legs: &[weft_types::Transaction]| legs.iter().map(hex_of).collect::<Vec<_>>();
    let broken_leg = client(1)
        .bundle_preconfirmation_evidence(&encoded(&hidden_leg), &legs_hex(&hidden_bundle))
        .await
        .unwrap();
    assert_eq!(broken_leg.verdict, "broken", "{broken_leg:?}");
    let accused =
        verify_broken_preconfirmation(&broken_leg.evidence.unwrap(), &chain, &validators, &limits)
            .expect("the bundle evidence verifies");
    assert_eq!(accused, hidden_leg);
    let voided = client(3)
        .bundle_preconfirmation_evidence(&encoded(&voided_leg), &legs_hex(&voided_bundle))
        .await
        .unwrap();
    assert_eq!(
        (voided.verdict.as_str(), voided.tx.as_deref()),
        ("conflict", Some(spent[0].as_str())),
        "{voided:?}"
    );
    assert!(matches!(
        judge_preconfirmation(&voided.evidence.unwrap(), &chain, &validators, &limits),
        Ok(Verdict::Conflict { .. })
    ));
    // A leg's receipt without its bundle's legs, or with another bundle's, is refused.
    for legs in [Vec::new(), legs_hex(&voided_bundle)] {
        let refused = client(1)
            .bundle_preconfirmation_evidence(&encoded(&hidden_leg), &legs)
            .await;
        assert_eq!(call_code(refused), weft_client::codes::INVALID_PARAMS);
    }
    let refused = client(1)
        .preconfirmation_evidence(&encoded(&hidden_leg))
        .await;
    assert_eq!(call_code(refused), weft_client::codes::INVALID_PARAMS);

    // A receipt that is not Weft's own is a parameter error.
    let mut forged = withheld.clone();
    forged.promise.nonce += 1;
    let refused = client(1).preconfirmation_evidence(&encoded(&forged)).await;
    assert_eq!(call_code(refused), weft_client::codes::INVALID_PARAMS);

    preconfirmed_stream_resolves_every_entry(&chain, &validators).await;
    a_bundle_is_finalized_whole(&chain, &validators).await;

    // A malformed hash is a clear parameter error.
    let bad: Result<Option<ReceiptJson>, ClientError> = client(0).preconfirmation("0x12").await;
    assert_eq!(call_code(bad), weft_client::codes::INVALID_PARAMS);
}

/// The next event of a preconfirmed stream (bounded wait).
async fn next_event(
    sub: &mut jsonrpsee::core::client::Subscription<PreconfEventJson>,
) -> PreconfEventJson {
    tokio::time::timeout(std::time::Duration::from_secs(30), sub.next())
        .await
        .expect("an event within 30 s")
        .expect("the stream is open")
        .expect("a well-formed event")
}

/// Reads events until every one of `hashes` is resolved: finalized, or dropped for the
/// sender's conflict (never left hanging). Returns the outcome per hash.
async fn resolve(
    sub: &mut jsonrpsee::core::client::Subscription<PreconfEventJson>,
    hashes: &[String],
    seen: &mut Vec<PreconfEventJson>,
) -> std::collections::HashMap<String, String> {
    let mut outcome = std::collections::HashMap::new();
    while hashes.iter().any(|h| !outcome.contains_key(h)) {
        let event = next_event(sub).await;
        match &event {
            PreconfEventJson::Finalized { txs, .. } => {
                for t in txs {
                    outcome.insert(t.clone(), "finalized".to_string());
                }
            }
            PreconfEventJson::Dropped { tx, reason, .. } => {
                outcome.insert(tx.clone(), reason.clone());
            }
            PreconfEventJson::Preconfirmed { .. } => {}
        }
        seen.push(event);
    }
    outcome
}

/// `weft_subscribePreconfirmed`: a receipt is streamed before the finalization that lists
/// it; a promise voided by the sender's double-spend is reported dropped, not left as a
/// phantom; a client that resumes from its last finalized height misses nothing.
async fn preconfirmed_stream_resolves_every_entry(
    chain: &weft_types::ChainId,
    validators: &[VerifyingKey],
) {
    let window = DEFAULT_PRECONF_WINDOW_HEIGHTS;
    let ws = client(1).connect_ws().await.unwrap();
    let mut sub = weft_client::Client::subscribe_preconfirmed_on(&ws, 5, None)
        .await
        .unwrap();
    let t = tx(&key(810), 5, 0, b"streamed");
    let accepted = client(1)
        .send_transaction_with_receipt(&hex_of(&t))
        .await
        .unwrap();
    let mut seen = Vec::new();
    let outcome = resolve(&mut sub, std::slice::from_ref(&accepted.hash), &mut seen).await;
    assert_eq!(outcome[&accepted.hash], "finalized");
    let announced = seen.iter().position(|e| {
        matches!(e, PreconfEventJson::Preconfirmed { receipt, .. } if receipt.tx == accepted.hash)
    });
    let announced = announced.expect("the receipt is streamed");
    let PreconfEventJson::Preconfirmed {
        receipt,
        transaction,
    } = &seen[announced]
    else {
        unreachable!()
    };
    assert_eq!(Some(&**receipt), accepted.receipt.as_ref());
    assert_eq!(transaction.hash, accepted.hash);
    verify_receipt(receipt, chain, validators, window).unwrap();

    // The sender double-spends its nonce: one copy to validator 1, one to validator 2, at
    // once. Whichever lands, validator 1's promise is resolved: finalized, or dropped for
    // the conflict. (If copy two reaches validator 1 by gossip first, validator 1 refuses
    // copy one and promises nothing; a new sender tries again.)
    let mut seen = Vec::new();
    let mut attempts = 0;
    loop {
        attempts += 1;
        assert!(
            attempts <= 5,
            "validator 1 never promised a copy in 5 attempts"
        );
        let sender = key(811 + 100 * attempts);
        let (a, b) = (
            tx(&sender, 5, 0, b"copy one"),
            tx(&sender, 5, 0, b"copy two"),
        );
        let (c1, c2) = (client(1), client(2));
        let (ha, hb) = (hex_of(&a), hex_of(&b));
        let (ra, _) = tokio::join!(
            c1.send_transaction_with_receipt(&ha),
            c2.send_transaction(&hb)
        );
        let Some(promised) = ra.ok().filter(|r| r.receipt.is_some()).map(|r| r.hash) else {
            continue;
        };
        let outcome = resolve(&mut sub, std::slice::from_ref(&promised), &mut seen).await;
        match outcome[&promised].as_str() {
            "finalized" => eprintln!("double-spent nonce: the promised copy landed"),
            "conflict" => {
                // Dropped only because the other copy took the nonce.
                let other = b.hash().to_string();
                wait_until("the other copy finalized", || {
                    all_finalized(&[1], std::slice::from_ref(&other))
                })
                .await;
                eprintln!("double-spent nonce: the other copy landed, the promise was dropped");
            }
            other => panic!("the promise ended as {other}"),
        }
        break;
    }
    let last_finalized = seen
        .iter()
        .filter_map(|e| match e {
            PreconfEventJson::Finalized { height, .. } => Some(*height),
            _ => None,
        })
        .max()
        .unwrap();

    // Disconnect; a transaction lands meanwhile; resuming from the next height shows it.
    drop(sub);
    drop(ws);
    let t = tx(&key(812), 5, 0, b"while away");
    let missed = client(1)
        .send_transaction_with_receipt(&hex_of(&t))
        .await
        .unwrap();
    wait_until("the transaction sent while away finalized", || {
        all_finalized(&[1], std::slice::from_ref(&missed.hash))
    })
    .await;
    let ws = client(1).connect_ws().await.unwrap();
    let mut sub = weft_client::Client::subscribe_preconfirmed_on(&ws, 5, Some(last_finalized + 1))
        .await
        .unwrap();
    let outcome = resolve(
        &mut sub,
        std::slice::from_ref(&missed.hash),
        &mut Vec::new(),
    )
    .await;
    assert_eq!(outcome[&missed.hash], "finalized");
}

/// `weft_sendBundle` end to end: two legs in two namespaces from two senders, one of them
/// behind a pending predecessor. Each leg gets a bundle receipt (version 2) that verifies
/// offline, and both are finalized in one block whose bundle section names the bundle, in
/// time: the evidence says the promise was kept. A bundle with one bad leg is refused
/// whole, naming the leg; a leg sent alone is refused.
async fn a_bundle_is_finalized_whole(chain: &weft_types::ChainId, validators: &[VerifyingKey]) {
    use weft_types::{LegSpec, NamespaceId, Transaction};
    let window = DEFAULT_PRECONF_WINDOW_HEIGHTS;
    let (buyer, seller) = (key(900), key(901));
    let head = client(2).head().await.unwrap().map_or(0, |h| h.height);
    let spec = |ns: u64, nonce: u64, payload: &'static [u8]| LegSpec {
        namespace: NamespaceId(ns),
        nonce,
        payload: bytes::Bytes::from_static(payload),
    };
    // The seller's nonce 0 goes first, as a plain transaction; its leg is nonce 1.
    let before = tx(&seller, 7, 0, b"seller's earlier transfer");
    client(2).send_transaction(&hex_of(&before)).await.unwrap();
    let legs = Transaction::sign_bundle(
        chain,
        head + window + 100,
        &[
            (&buyer, spec(8, 0, b"buy call, sell put, premium <= 12")),
            (&seller, spec(7, 1, b"pay net premium 12")),
        ],
    )
    .unwrap();
    let accepted = client(2).send_bundle(&legs).await.expect("bundle accepted");
    assert_eq!(
        accepted.bundle_id,
        legs[0].leg().unwrap().bundle().to_string()
    );
    assert_eq!(accepted.legs.len(), 2);
    let mut receipts = Vec::new();
    for (leg, a) in legs.iter().zip(&accepted.legs) {
        assert_eq!(a.hash, leg.hash().to_string());
        let json = a
            .receipt
            .as_ref()
            .expect("every leg of a ready bundle gets a receipt");
        let receipt = verify_receipt_for(json, leg, chain, validators, window)
            .expect("the leg's receipt verifies offline");
        assert_eq!(
            receipt.promise.version,
            weft_types::receipt::RECEIPT_VERSION_LEG
        );
        assert_eq!(receipt.promise.issuer, validators[2]);
        receipts.push(json.encoded.clone());
    }
    let hashes: Vec<String> = legs.iter().map(|t| t.hash().to_string()).collect();
    wait_until("both legs finalized everywhere", || {
        all_finalized(&[0, 1, 2, 3], &hashes)
    })
    .await;
    let h0 = finalized_height(0, &hashes[0]).await.unwrap();
    assert_eq!(
        finalized_height(0, &hashes[1]).await,
        Some(h0),
        "legs in one block"
    );
    let block = client(0).encoded_block(h0).await.unwrap().unwrap();
    let block = weft_types::Block::decode_untrusted(
        &hex::decode(block.trim_start_matches("0x")).unwrap(),
        &weft_types::Limits::default(),
    )
    .unwrap();
    assert_eq!(block.body.bundles.len(), 1);
    assert_eq!(block.body.bundles[0].id, legs[0].leg().unwrap().bundle());
    let legs_hex: Vec<String> = legs.iter().map(hex_of).collect();
    for r in &receipts {
        // "pending" until a certificate at or above the legs' height is stored.
        wait_until("the bundle's evidence decided", || async {
            let answer = client(0)
                .bundle_preconfirmation_evidence(r, &legs_hex)
                .await
                .unwrap();
            answer.verdict != "pending"
        })
        .await;
        let kept = client(0)
            .bundle_preconfirmation_evidence(r, &legs_hex)
            .await
            .unwrap();
        assert_eq!(
            (kept.verdict.as_str(), kept.height),
            ("kept", h0),
            "{kept:?}"
        );
    }

    // One bad leg (its nonce already used) refuses the whole bundle, naming the leg.
    let stale = Transaction::sign_bundle(
        chain,
        head + window + 100,
        &[
            (&key(902), spec(8, 0, b"fresh leg")),
            (&seller, spec(7, 0, b"reuses a finalized nonce")),
        ],
    )
    .unwrap();
    let refused = client(1).send_bundle(&stale).await;
    let message = format!("{:?}", refused);
    assert_eq!(call_code(refused), weft_client::codes::NONCE_TOO_LOW);
    assert!(message.contains("bundle leg 1"), "{message}");
    assert!(
        !matches!(
            status(1, &stale[0].hash().to_string()).await,
            Some(weft_client::types::TxStatus::Pending)
        ),
        "nothing of a refused bundle stays pending"
    );
    // A leg alone is refused.
    let alone = client(1).send_transaction(&hex_of(&stale[0])).await;
    assert_eq!(call_code(alone), weft_client::codes::LEG_ALONE);
    // A client's oversized bundle (more legs than BUNDLE_LEGS_MAX) is refused before any
    // leg is decoded; one whose valid_until_height is not what its legs sign, too.
    let mut params = jsonrpsee::core::params::ArrayParams::new();
    params
        .insert(serde_json::json!({
            "legs": vec![hex_of(&stale[0]); weft_types::BUNDLE_LEGS_MAX + 1],
            "valid_until_height": head + window + 100,
        }))
        .unwrap();
    let flood = client(1).raw("weft_sendBundle", params).await;
    let message = format!("{flood:?}");
    assert_eq!(call_code(flood), weft_client::codes::BAD_BUNDLE);
    assert!(message.contains("BUNDLE_LEGS_MAX"), "{message}");
    let mut params = jsonrpsee::core::params::ArrayParams::new();
    params
        .insert(serde_json::json!({
            "legs": stale.iter().map(hex_of).collect::<Vec<_>>(),
            "valid_until_height": 1,
        }))
        .unwrap();
    let lying = client(1).raw("weft_sendBundle", params).await;
    assert_eq!(call_code(lying), weft_client::codes::BAD_BUNDLE);
}

/// Bonds `issuer`'s stake on an embedded L1 whose evidence verifier trusts only `trust`, then
/// reports `broken` (its broken promise) and `kept` (a kept one).
fn slash_on_the_l1(
    issuer: &weft_types::SigningKey,
    broken: &str,
    kept: &str,
    trust: weft_rollup::l1::WeftTrust,
) {
    use weft_settlement::staking::{Action, StakeCall, StakeError, Status};
    use weft_settlement::{EmbeddedL1, SettlementError, StakingDeployment};
    let dir = tempfile::tempdir().unwrap();
    let operator = weft_settlement::auth::public_key(issuer);
    let chain = trust.chain;
    let l1 = EmbeddedL1::open_with(
        dir.path().join("l1.redb"),
        weft_settlement::Config::default(),
        chain,
        Default::default(),
        std::sync::Arc::new(weft_settlement::NoWeftData),
        StakingDeployment {
            genesis_accounts: vec![(operator, 10_000_000)],
            evidence: Some(std::sync::Arc::new(weft_rollup::l1::PreconfEvidence(trust))),
        },
    )
    .unwrap();
    let bond = StakeCall {
        account: operator,
        nonce: 0,
        action: Action::Bond {
            validator: operator,
            amount: 5_000_000,
        },
    };
    l1.stake(bond.sign(issuer, &chain)).unwrap();
    assert_eq!(
        l1.validator_set().unwrap(),
        vec![(operator, 5_000_000, None)]
    );
    let reporter = [0x5e; 32];
    let refused = l1.slash(kept.as_bytes(), reporter);
    assert!(
        matches!(&refused, Err(SettlementError::Stake(StakeError::Evidence(m))) if m.contains("not broken")),
        "{refused:?}"
    );
    let slashed = l1.slash(broken.as_bytes(), reporter).unwrap();
    assert_eq!(slashed.slashed, 50_000, "1% of 5,000,000");
    assert_eq!(slashed.reward, 5_000, "10% of it to the reporter");
    assert!(matches!(slashed.validator.status, Status::Jailed { .. }));
    assert_eq!(l1.account(&reporter).unwrap().balance, 5_000);
    assert!(
        l1.validator_set().unwrap().is_empty(),
        "jailed: out of the set"
    );
    assert!(matches!(
        l1.slash(broken.as_bytes(), reporter),
        Err(SettlementError::Stake(StakeError::Evidence(m))) if m.contains("slashed in L1 block")
    ));
}
