package a

import (
	"os"
	"sync"
	"time"
)

// etcd's WAL filePipeline: a goroutine the constructor starts allocates
// the next file and hands it over, forever. Open waits for it under the
// WAL's lock on purpose; the producer always answers.
type filePipeline struct {
	filec chan *os.File
	errc  chan error
	donec chan struct{}
}

func newFilePipeline() *filePipeline {
	fp := &filePipeline{
		filec: make(chan *os.File),
		errc:  make(chan error, 1),
		donec: make(chan struct{}),
	}
	go fp.run()
	return fp
}

func (fp *filePipeline) Open() (f *os.File, err error) {
	select {
	case f = <-fp.filec:
	case err = <-fp.errc:
	}
	return f, err
}

func (fp *filePipeline) Next() *os.File { return <-fp.filec }

func (fp *filePipeline) run() {
	defer close(fp.errc)
	for {
		f, err := os.CreateTemp("", "x")
		if err != nil {
			fp.errc <- err
			return
		}
		select {
		case fp.filec <- f:
		case <-fp.donec:
			f.Close()
			return
		}
	}
}

type walog struct {
	mu sync.Mutex
	fp *filePipeline
}

func (w *walog) cut() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	f, err := w.fp.Open()
	if err != nil {
		return err
	}
	_ = w.fp.Next()
	return f.Close()
}

// A producer that itself waits (here: sleeps) is no guarantee.
type slowPipe struct{ out chan int }

func newSlowPipe() *slowPipe {
	p := &slowPipe{out: make(chan int)}
	go func() {
		for i := 0; ; i++ {
			time.Sleep(time.Second)
			p.out <- i
		}
	}()
	return p
}

func (w *walog) slow(p *slowPipe) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return <-p.out // want `<-p.out from its producer may block|time.Sleep may block with no deadline while lock w.mu is held`
}

// A channel field any caller can send to is not an owned producer's.
type pushPipe struct{ c chan int }

func newPushPipe() *pushPipe {
	p := &pushPipe{c: make(chan int)}
	go func() {
		for i := 0; ; i++ {
			p.c <- i
		}
	}()
	return p
}

func (p *pushPipe) Push(v int) { p.c <- v }

func (w *walog) pushed(p *pushPipe) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return <-p.c // want `<-p.c may block with no deadline while lock w.mu is held`
}
