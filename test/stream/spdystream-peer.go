// An independent SPDY/3.1 peer for the tests: Go's spdystream, the library kubectl and the
// kubelet use. It upgrades an HTTP/1.1 connection the way they do, then checks PING, a 1 MiB
// download, headers both ways and 1 MiB echoed on each of several concurrent streams. It never
// sends WINDOW_UPDATE (spdystream has no flow control), which the server must cope with.
package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"

	"github.com/moby/spdystream"
)

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", a...)
	os.Exit(1)
}

func main() {
	conn, err := net.Dial("tcp", "127.0.0.1:"+os.Args[1])
	if err != nil {
		fail("dial: %v", err)
	}
	fmt.Fprint(conn, "GET /exec/token HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"+
		"X-Stream-Protocol-Version: v5.channel.k8s.io\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		fail("response: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		fail("status %d", resp.StatusCode)
	}
	if br.Buffered() > 0 {
		fail("server sent frames before the client spoke")
	}
	protocol := resp.Header.Get("X-Stream-Protocol-Version")
	fmt.Println("protocol", protocol)

	c, err := spdystream.NewConnection(conn, false)
	if err != nil {
		fail("connection: %v", err)
	}
	go c.Serve(spdystream.NoOpStreamHandler)
	if _, err := c.Ping(); err != nil {
		fail("ping: %v", err)
	}
	fmt.Println("ping ok")

	// The server sends 1 MiB the client never acknowledges with WINDOW_UPDATE.
	h := http.Header{}
	h.Set("streamType", "stdout")
	down, err := c.CreateStream(h, nil, false)
	if err != nil {
		fail("download: %v", err)
	}
	if err := down.Wait(); err != nil {
		fail("download reply: %v", err)
	}
	down.Close()
	b, err := io.ReadAll(down)
	if err != nil {
		fail("download read: %v", err)
	}
	for i := range b {
		if b[i] != byte(i%251) {
			fail("download: byte %d is %d", i, b[i])
		}
	}
	fmt.Println("download", len(b), "bytes ok")

	const n = 8
	results := make([]string, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			h := http.Header{}
			h.Set("streamType", "stdin")
			h.Set("X-N", fmt.Sprint(i))
			s, err := c.CreateStream(h, nil, false)
			if err != nil {
				fail("stream %d: %v", i, err)
			}
			if err := s.Wait(); err != nil {
				fail("stream %d reply: %v", i, err)
			}
			got, err := s.ReceiveHeader()
			if err != nil {
				fail("stream %d headers: %v", i, err)
			}
			data := make([]byte, 1<<20)
			rand.Read(data)
			echoed := make(chan []byte)
			go func() {
				b, err := io.ReadAll(s)
				if err != nil {
					fail("stream %d read: %v", i, err)
				}
				echoed <- b
			}()
			for off := 0; off < len(data); off += 32 * 1024 {
				if _, err := s.Write(data[off : off+32*1024]); err != nil {
					fail("stream %d write: %v", i, err)
				}
			}
			s.Close()
			b := <-echoed
			if got.Get("X-N") != fmt.Sprint(i) {
				fail("stream %d: headers %v", i, got)
			}
			ok := "ok"
			if !bytes.Equal(b, data) {
				ok = "MISMATCH"
			}
			results[i] = fmt.Sprintf("stream %d reply %s echoed %d bytes %s", i, got.Get("Protocol"), len(b), ok)
		}(i)
	}
	wg.Wait()
	for _, r := range results {
		fmt.Println(r)
	}
	fmt.Println("streams done")
	// The test pings from the server side now; stdin closing means it is done.
	io.Copy(io.Discard, os.Stdin)
	if err := c.CloseWait(); err != nil {
		fail("close: %v", err)
	}
	fmt.Println("closed")
}
