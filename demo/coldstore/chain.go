// Package coldstore reproduces seed 004: a cold-storage task that serves
// block and log reads, log streams and block writes over one backend, and
// whose admission control wedged four times in a row.
//
// Two stores share one in-memory backend ([Mem]):
//
//   - [Naive] is built the way the seed's first version was: one dispatcher
//     loop receives reads and writes; before admitting a read it waits, on
//     the loop, until fewer than 64 reads are in flight, and before a write
//     it waits until none are. The 65th concurrent reader therefore blocks
//     the loop, and nothing else (no write, no stream, no shutdown) is
//     handled until a reader finishes. With stuck readers that is forever.
//   - [Cold] is built on [gate.Gate]: reads (64, FIFO, 5 s deadline),
//     exclusive writes that drain reads cancellably, streams in their own
//     lane (8, setup bounded by the read deadline, 60 s lifetime), Close
//     that fails every waiter at once.
//
// [Scenario] runs both against a backend whose reads can be held, and
// reports what each did; RunNaive and RunSluice return the figures.
package coldstore

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Address identifies a contract that emits logs.
type Address string

// Hash identifies a block or transaction, or is a log topic.
type Hash string

// Log is one event emitted by a transaction.
type Log struct {
	Address  Address
	Topics   []Hash
	Data     string
	Block    uint64
	TxHash   Hash
	TxIndex  int
	LogIndex int // index within the block
}

// Tx is a transaction with its logs.
type Tx struct {
	Hash     Hash
	From, To Address
	Logs     []Log
}

// Block is a block with its transactions. Blocks are never modified once
// appended, so views can share them.
type Block struct {
	Number uint64
	Hash   Hash
	Parent Hash
	Txs    []Tx
}

// Latest, as Filter.To, means the head block at the time of the call.
const Latest = math.MaxUint64

// Filter selects logs: blocks From..To inclusive, emitted by one of
// Addresses (any if empty), with Topics[i] matching one of the hashes in
// Topics[i] for each position i that has any (any topic if empty). Limit,
// if positive, is the most logs GetLogs will return: more is an error.
type Filter struct {
	From, To  uint64
	Addresses []Address
	Topics    [][]Hash
	Limit     int
}

// ErrNotFound is returned for a block that is not stored.
var ErrNotFound = errors.New("coldstore: not found")

// ErrTooManyLogs is returned (wrapped, with the figures) when a GetLogs
// filter matches more than its Limit.
var ErrTooManyLogs = errors.New("coldstore: too many logs")

// Match reports whether l passes the address and topic filters.
func (f Filter) Match(l Log) bool {
	if len(f.Addresses) > 0 && !slices.Contains(f.Addresses, l.Address) {
		return false
	}
	for i, want := range f.Topics {
		if len(want) == 0 {
			continue
		}
		if i >= len(l.Topics) || !slices.Contains(want, l.Topics[i]) {
			return false
		}
	}
	return true
}

func (f Filter) String() string {
	to := fmt.Sprint(f.To)
	if f.To == Latest {
		to = "latest"
	}
	return fmt.Sprintf("blocks %d..%s, %d addresses, %d topic positions, limit %d", f.From, to, len(f.Addresses), len(f.Topics), f.Limit)
}

// Addresses and topics that MakeChain uses, so tests can filter on them.
var (
	ChainAddresses = []Address{"0xa1", "0xa2", "0xa3"}
	ChainTopics    = []Hash{"0xtransfer", "0xapproval", "0xswap", "0xsync"}
)

// MakeChain returns count blocks starting at number from, each with txs
// transactions of logs logs each, chained to parent. The content is a
// pure function of the arguments.
func MakeChain(from, count uint64, txs, logs int, parent Hash) []Block {
	out := make([]Block, 0, count)
	for n := from; n < from+count; n++ {
		b := Block{Number: n, Hash: blockHash(n, parent), Parent: parent}
		li := 0
		for t := range txs {
			tx := Tx{
				Hash: Hash(fmt.Sprintf("0xtx%d_%d", n, t)),
				From: Address(fmt.Sprintf("0xe%d", t)),
				To:   ChainAddresses[(int(n)+t)%len(ChainAddresses)],
			}
			for j := range logs {
				k := int(n)*7 + t*3 + j
				tx.Logs = append(tx.Logs, Log{
					Address:  ChainAddresses[k%len(ChainAddresses)],
					Topics:   []Hash{ChainTopics[k%len(ChainTopics)], Hash(fmt.Sprintf("0xt%d", k%5))},
					Data:     fmt.Sprintf("%d", k),
					Block:    n,
					TxHash:   tx.Hash,
					TxIndex:  t,
					LogIndex: li,
				})
				li++
			}
			b.Txs = append(b.Txs, tx)
		}
		out = append(out, b)
		parent = b.Hash
	}
	return out
}

func blockHash(n uint64, parent Hash) Hash {
	// Not a real hash: unique per (number, parent), which is what lookups
	// by hash need, and different after a reorg.
	h := uint64(14695981039346656037)
	for _, c := range []byte(fmt.Sprintf("%d/%s", n, parent)) {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return Hash(fmt.Sprintf("0x%016x", h))
}
