//! The RPC parameter parsers: every method, called in process with fuzzed parameters, over a
//! real store and mempool. The first byte picks the method; the rest is its `params` JSON.
#![no_main]
use futures::future::BoxFuture;
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, Mutex, OnceLock};
use weft_mempool::{AdmitError, Mempool, Status};
use weft_rpc::NodeApi;
use weft_storage::Store;
use weft_types::{sha256, Block, ChainId, Digest, Limits, Transaction, TxHash, VerifyingKey};

const METHODS: &[&str] = &[
    "weft_sendTransaction",
    "weft_sendTransactions",
    "weft_getTransactionStatus",
    "weft_getNonce",
    "weft_getBlockByHeight",
    "weft_getBlockByHash",
    "weft_chainHead",
    "weft_chainId",
    "weft_getNamespaceTransactions",
    "weft_validators",
    "weft_getFinality",
    "weft_getNamespaceProof",
    "weft_encodedBlock",
    "eth_sendRawTransaction",
    "eth_chainId",
    "net_version",
    "eth_getTransactionCount",
    "weft_getPreconfirmation",
    "weft_getPreconfirmationEvidence",
];

struct Node {
    store: Store,
    mempool: Mutex<Mempool>,
    chain: ChainId,
}

impl NodeApi for Node {
    fn submit(
        &self,
        txs: Vec<Result<Transaction, AdmitError>>,
    ) -> BoxFuture<'static, Vec<Result<weft_rpc::Accepted, AdmitError>>> {
        let chain_view = weft_consensus::ChainState(&self.store);
        let mut mempool = self.mempool.lock().unwrap();
        let out = txs
            .into_iter()
            .map(|r| {
                let tx = r?;
                tx.check(&self.store.limits().clone(), &self.chain)?;
                let hash = tx.hash();
                mempool.admit(tx, &chain_view, true)?;
                Ok(weft_rpc::Accepted {
                    hash,
                    receipt: None,
                })
            })
            .collect();
        Box::pin(async move { out })
    }
    fn pending_status(&self, hash: &TxHash) -> Option<Status> {
        self.mempool.lock().unwrap().status(hash)
    }
    fn next_nonce(&self, sender: &[u8; 32]) -> u64 {
        let chain_view = weft_consensus::ChainState(&self.store);
        self.mempool.lock().unwrap().next_nonce(sender, &chain_view)
    }
    fn store(&self) -> &Store {
        &self.store
    }
    fn preconfirmed(&self) -> tokio::sync::broadcast::Receiver<weft_rpc::Preconfirmed> {
        static CHANNEL: OnceLock<tokio::sync::broadcast::Sender<weft_rpc::Preconfirmed>> =
            OnceLock::new();
        CHANNEL
            .get_or_init(|| tokio::sync::broadcast::channel(16).0)
            .subscribe()
    }
    fn outstanding(
        &self,
        _namespace: weft_types::NamespaceId,
    ) -> Vec<(Transaction, weft_types::Receipt)> {
        Vec::new()
    }
    fn pending_among(&self, hashes: &[TxHash]) -> Vec<bool> {
        let mempool = self.mempool.lock().unwrap();
        hashes
            .iter()
            .map(|h| matches!(mempool.status(h), Some(Status::Pending)))
            .collect()
    }
    fn validators(&self) -> Vec<VerifyingKey> {
        Vec::new()
    }
    fn chain_id(&self) -> ChainId {
        self.chain
    }
}

struct Harness {
    runtime: tokio::runtime::Runtime,
    methods: jsonrpsee::Methods,
    _dir: tempfile::TempDir,
}

fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits::default();
        let store = Store::open(dir.path().join("s.redb"), limits).unwrap();
        let key = <weft_types::SigningKey as commonware_cryptography::Signer>::from_seed(0);
        let proposer = commonware_cryptography::Signer::public_key(&key);
        let genesis = Block::genesis(Digest::from([1u8; 32]), proposer, 0);
        store.commit_finalized(&genesis, b"", 0).unwrap();
        let chain = ChainId(sha256(&[b"fuzz"]));
        let node = Arc::new(Node {
            store,
            mempool: Mutex::new(Mempool::new(Default::default(), limits)),
            chain,
        });
        let methods = weft_rpc::methods(Default::default(), node).unwrap();
        Harness {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            methods,
            _dir: dir,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((first, params)) = data.split_first() else {
        return;
    };
    let method = METHODS[*first as usize % METHODS.len()];
    let params = String::from_utf8_lossy(params);
    let request = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{params}}}"#);
    let h = harness();
    let _ = h.runtime.block_on(h.methods.raw_json_request(&request, 1));
});
