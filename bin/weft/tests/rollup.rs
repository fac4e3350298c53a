//! The reference token rollup against four real validator processes: two independent rollup
//! instances following different validators execute the same transfers to the same state
//! root; an invalid transfer is skipped with its reason.

mod common;

use bytes::Bytes;
use common::*;
use commonware_cryptography::Signer as _;
use weft_rollup::service::Rollup;
use weft_rollup_token::{TokenState, Transfer};
use weft_types::{NamespaceId, SigningKey, Transaction};

const NS: u64 = 7;

fn domain() -> weft_rollup_token::TransferDomain {
    weft_rollup_token::TransferDomain {
        chain: chain(),
        rollup: NamespaceId(NS),
    }
}

fn pk(k: &SigningKey) -> [u8; 32] {
    k.public_key().as_ref().try_into().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_rollup_instances_agree_on_executed_transfers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _net = Net::create(dir.path(), 26_000);
    wait_all_started().await;
    let (alice, bob, carol) = (key(700), key(701), key(702));
    let genesis = || TokenState::genesis(&[(pk(&alice), 1_000), (pk(&bob), 10)]);
    let rollups = [
        Rollup::new(chain(), NS, genesis()),
        Rollup::new(chain(), NS, genesis()),
    ];
    for (r, v) in rollups.iter().zip([0usize, 2]) {
        tokio::spawn(weft_rollup::service::follow(
            r.clone(),
            client(v),
            weft_rollup::clock::system(),
        ));
    }

    // alice -> bob 100, bob -> carol 50, bob -> carol 500 (overdraft: skipped), alice -> carol 1.
    let transfers = [
        (&alice, &bob, 100u64, 0u32),
        (&bob, &carol, 50, 0),
        (&bob, &carol, 500, 1),
        (&alice, &carol, 1, 1),
    ];
    let mut weft_nonces = std::collections::HashMap::new();
    let mut hashes = Vec::new();
    for (from, to, amount, nonce) in transfers {
        let payload = Transfer::sign(from, &domain(), pk(to), amount, nonce).encode();
        let weft_nonce = weft_nonces.entry(pk(from)).or_insert(0u64);
        let tx = Transaction::sign(
            from,
            &chain(),
            NamespaceId(NS),
            *weft_nonce,
            Bytes::from(payload),
        );
        *weft_nonce += 1;
        // Each sender submits to one validator, in order.
        let to_validator = if pk(from) == pk(&alice) { 1 } else { 3 };
        hashes.push(
            client(to_validator)
                .send_transaction(&hex_of(&tx))
                .await
                .expect("accepted by Weft"),
        );
        if hashes.len() == 1 {
            // Bob spends what alice sends him: wait for it, as a real client would. (Across
            // senders, the order of concurrent submissions is not fixed.)
            let funding = hashes.clone();
            wait_until("alice's transfer final", || all_finalized(&[0], &funding)).await;
        }
    }
    wait_until("transfers final", || all_finalized(&[0, 2], &hashes)).await;
    // Notifications come only for heights holding the namespace's transactions: wait for
    // the rollups to pass the last transfer's height.
    let mut last = 0;
    for h in &hashes {
        if let Some(weft_client::types::TxStatus::Finalized { height, .. }) = status(0, h).await {
            last = last.max(height);
        }
    }
    wait_until("both rollups to execute past the transfers", || async {
        rollups.iter().all(|r| r.status().next_height > last)
    })
    .await;

    let [a, b] = &rollups;
    assert_eq!(
        a.status().state_root,
        b.status().state_root,
        "same data, same root"
    );
    let mut locations = Vec::new();
    for h in &hashes {
        locations.push(status(0, h).await);
    }
    assert_eq!(
        (a.status().applied, a.status().skipped),
        (3, 1),
        "skipped: {:?}; hashes {hashes:?} at {locations:?}",
        a.skipped(0)
    );
    assert_eq!(
        a.account(&pk(&alice)).map(|x| (x.balance, x.nonce)),
        Some((899, 2))
    );
    assert_eq!(
        a.account(&pk(&bob)).map(|x| (x.balance, x.nonce)),
        Some((60, 1))
    );
    assert_eq!(
        a.account(&pk(&carol)).map(|x| (x.balance, x.nonce)),
        Some((51, 0))
    );
    let skipped = a.skipped(0);
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].tx_hash, hashes[2]);
    assert!(
        skipped[0].reason.contains("does not cover 500"),
        "{}",
        skipped[0].reason
    );

    risk_reversals_execute_on_both_rollups_or_on_neither().await;
}

/// The seed scenario over real validators: two rollup worlds (token and options rollups
/// together), following different validators, see a risk reversal (buy a call, sell a put,
/// pay the net premium on the token rollup) as one bundle. It executes on both rollups;
/// with the premium moved past the taker's limit it reverts on both; with a payment the
/// taker cannot afford it reverts on both; and both worlds agree on every root.
async fn risk_reversals_execute_on_both_rollups_or_on_neither() {
    use weft_rollup::service::OptionsGenesis;
    use weft_rollup_options::{Kind, Op, Series, Side, TradeLeg};
    let (taker, maker, poor, oracle, escrow) = (key(710), key(711), key(712), key(713), key(714));
    let options = OptionsGenesis {
        namespace: 8,
        oracle: weft_types::to_hex(&pk(&oracle)),
        escrow: weft_types::to_hex(&pk(&escrow)),
    };
    let genesis =
        || TokenState::genesis(&[(pk(&taker), 1_000), (pk(&maker), 1_000), (pk(&poor), 501)]);
    let worlds = [
        Rollup::world(chain(), NS, genesis(), Some(&options), None).unwrap(),
        Rollup::world(chain(), NS, genesis(), Some(&options), None).unwrap(),
    ];
    for (r, v) in worlds.iter().zip([1usize, 3]) {
        tokio::spawn(weft_rollup::service::follow(
            r.clone(),
            client(v),
            weft_rollup::clock::system(),
        ));
    }
    let mut n = Nonces::default();
    let head = client(0).head().await.unwrap().map_or(0, |h| h.height);
    let valid_until = head + 500;
    let (call, put) = (
        Series {
            kind: Kind::Call,
            strike: 110,
            expiry: 1_000_000,
        },
        Series {
            kind: Kind::Put,
            strike: 90,
            expiry: 1_000_000,
        },
    );
    // Collateral in: a bundle each of the token transfer to the escrow and the credit.
    for who in [&taker, &maker, &poor] {
        let pay = n.transfer(who, pk(&escrow), 500);
        let legs = n.bundle(
            valid_until,
            who,
            vec![(8, Op::Deposit { amount: 500 }.encode()), (NS, pay)],
        );
        assert!(send(&worlds, legs).await.executed, "deposit executed");
    }
    // The oracle prices, the maker quotes.
    let mut hashes = vec![];
    for tx in [
        n.plain(&oracle, Op::PostPrice { price: 100 }),
        n.plain(
            &maker,
            Op::Quote {
                series: call,
                bid: 4,
                ask: 5,
                size: 10,
            },
        ),
        n.plain(
            &maker,
            Op::Quote {
                series: put,
                bid: 3,
                ask: 4,
                size: 10,
            },
        ),
    ] {
        hashes.push(client(0).send_transaction(&hex_of(&tx)).await.unwrap());
    }
    wait_until("price and quotes final", || all_finalized(&[0], &hashes)).await;
    let trade = |premium_max| Op::Trade {
        maker: pk(&maker),
        legs: vec![
            TradeLeg {
                series: call,
                side: Side::Buy,
                quantity: 1,
            },
            TradeLeg {
                series: put,
                side: Side::Sell,
                quantity: 1,
            },
        ],
        premium_max,
    };
    let w = &worlds[0];
    // Executed: net premium 5 - 3 = 2 within the limit 3.
    let pay = n.transfer(&taker, pk(&maker), 2);
    let legs = n.bundle(valid_until, &taker, vec![(8, trade(3).encode()), (NS, pay)]);
    let done = send(&worlds, legs).await;
    assert!(done.executed, "{done:?}");
    assert_eq!(w.account(&pk(&taker)).unwrap().balance, 1_000 - 500 - 2);
    assert_eq!(w.account(&pk(&maker)).unwrap().balance, 1_000 - 500 + 2);
    let acct = w.options_account(&pk(&taker)).unwrap();
    assert_eq!((acct.free, acct.locked, acct.positions.len()), (410, 90, 2));

    // The maker moves the call to 7: net 4 is past the limit 3. Reverted on both rollups.
    let requote = n.plain(
        &maker,
        Op::Quote {
            series: call,
            bid: 6,
            ask: 7,
            size: 10,
        },
    );
    let h = client(0).send_transaction(&hex_of(&requote)).await.unwrap();
    wait_until("requote final", || {
        all_finalized(&[0], std::slice::from_ref(&h))
    })
    .await;
    // The worlds follow other validators: read the roots once they executed the requote.
    let Some(weft_client::types::TxStatus::Finalized { height, .. }) = status(0, &h).await else {
        panic!("the requote is final");
    };
    wait_until("both worlds past the requote", || async {
        worlds.iter().all(|w| w.next_height() > height)
    })
    .await;
    let before = (
        w.status().state_root,
        w.options_status().unwrap().state_root,
    );
    let pay = n.transfer(&taker, pk(&maker), 4);
    let legs = n.bundle(valid_until, &taker, vec![(8, trade(3).encode()), (NS, pay)]);
    let done = send(&worlds, legs).await;
    assert!(!done.executed);
    assert!(
        done.reason
            .as_deref()
            .unwrap()
            .contains("above the taker's limit 3"),
        "{done:?}"
    );
    assert_eq!(
        (
            w.status().state_root,
            w.options_status().unwrap().state_root
        ),
        before
    );
    assert_eq!(
        w.account(&pk(&taker)).unwrap().balance,
        498,
        "the payment was not made"
    );
    assert_eq!(w.options_account(&pk(&taker)).unwrap().positions.len(), 2);

    // The poor taker cannot pay 7 - 3 = 4 from its 1 token: the token leg is invalid for
    // its rollup, so the options leg, valid there, reverts too.
    let pay = n.transfer(&poor, pk(&maker), 4);
    let legs = n.bundle(valid_until, &poor, vec![(8, trade(9).encode()), (NS, pay)]);
    let done = send(&worlds, legs).await;
    assert!(!done.executed);
    assert!(
        done.reason.as_deref().unwrap().contains("leg 1"),
        "{done:?}"
    );
    assert!(w.options_account(&pk(&poor)).unwrap().positions.is_empty());
    assert_eq!(w.account(&pk(&poor)).unwrap().balance, 1);
}

/// Weft and token-rollup nonces of the scenario's senders.
#[derive(Default)]
struct Nonces {
    weft: std::collections::HashMap<[u8; 32], u64>,
    token: std::collections::HashMap<[u8; 32], u32>,
}

impl Nonces {
    fn transfer(&mut self, from: &SigningKey, to: [u8; 32], amount: u64) -> Vec<u8> {
        let n = self.token.entry(pk(from)).or_insert(0);
        let t = Transfer::sign_leg(from, &domain(), to, amount, *n);
        *n += 1;
        t.encode()
    }

    /// A bundle of `(namespace, payload)` legs, all from `from`.
    fn bundle(
        &mut self,
        valid_until: u64,
        from: &SigningKey,
        legs: Vec<(u64, Vec<u8>)>,
    ) -> Vec<Transaction> {
        let first = *self.weft.get(&pk(from)).unwrap_or(&0);
        self.weft.insert(pk(from), first + legs.len() as u64);
        let specs: Vec<(&SigningKey, weft_types::LegSpec)> = legs
            .into_iter()
            .enumerate()
            .map(|(i, (ns, payload))| {
                (
                    from,
                    weft_types::LegSpec {
                        namespace: NamespaceId(ns),
                        nonce: first + i as u64,
                        payload: Bytes::from(payload),
                    },
                )
            })
            .collect();
        Transaction::sign_bundle(&chain(), valid_until, &specs).unwrap()
    }

    fn plain(&mut self, from: &SigningKey, op: weft_rollup_options::Op) -> Transaction {
        let n = self.weft.entry(pk(from)).or_insert(0);
        let tx = Transaction::sign(from, &chain(), NamespaceId(8), *n, Bytes::from(op.encode()));
        *n += 1;
        tx
    }
}

/// Sends a bundle to validator 0 and waits until both worlds executed it; returns the
/// outcome, asserting they agree on it and on every root.
async fn send(
    worlds: &[std::sync::Arc<Rollup>; 2],
    legs: Vec<Transaction>,
) -> weft_rollup::service::BundleOutcomeJson {
    let accepted = client(0).send_bundle(&legs).await.expect("bundle accepted");
    let id = weft_types::BundleId::from_hex(&accepted.bundle_id).unwrap();
    wait_until("both worlds to execute the bundle", || async {
        worlds.iter().all(|w| w.bundle(&id).is_some())
    })
    .await;
    let (a, b) = (worlds[0].bundle(&id), worlds[1].bundle(&id));
    assert_eq!(a, b, "both worlds see the same outcome and roots");
    a.unwrap()
}
