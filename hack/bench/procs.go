package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gatewarden/gatewarden/e2e/framework"
	"github.com/gatewarden/gatewarden/hack/bench/floor"
)

// floorMain is `gatewarden-bench floor`: the bare floor as a process of its
// own, as gatewarden is, so that neither shares the load generator's
// process. It prints its URL on the first line of stdout and serves until
// SIGTERM. GET /stats answers the number of reviews answered, which tells
// whether the API server calls it.
func floorMain(args []string) error {
	fs := flag.NewFlagSet("floor", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback)")
	cert := fs.String("cert", "", "serving certificate file")
	key := fs.String("key", "", "serving key file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var answered atomic.Int64
	h := floor.Handler()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]int64{"answered": answered.Load()})
	})
	mux.Handle("POST /", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answered.Add(1)
		h.ServeHTTP(w, r)
	}))
	s, err := floor.Start(*addr, *cert, *key, mux)
	if err != nil {
		return err
	}
	fmt.Println(s.URL)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	s.Stop()
	return nil
}

// proc is a child process: the floor, or a second gatewarden.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan error
	log  *os.File
	url  string
	// metrics and pprof are gatewarden's endpoints ("" for the floor).
	metrics, pprof string
	// client trusts the floor's serving certificate (for its /stats).
	client *http.Client
}

// startFloor runs this program's `floor` subcommand with the framework's
// serving certificate (valid for 127.0.0.1).
func startFloor(state string, c *framework.Cluster) (*proc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	p := &proc{name: "floor"}
	if p.log, err = os.OpenFile(filepath.Join(state, "floor.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600); err != nil {
		return nil, err
	}
	p.cmd = exec.Command(self, "floor", "-cert", filepath.Join(c.PKI.CertDir, "tls.crt"), "-key", filepath.Join(c.PKI.CertDir, "tls.key"))
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p.cmd.Stderr = p.log
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	p.done = make(chan error, 1)
	go func() { p.done <- p.cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		p.stop()
		return nil, fmt.Errorf("floor did not start: %v (see %s)", err, p.log.Name())
	}
	go func() { _, _ = io.Copy(p.log, out) }()
	p.url = strings.TrimSpace(line)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.PKI.CAPEM)
	p.client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	logf("floor on %s (pid %d)", p.url, p.cmd.Process.Pid)
	return p, nil
}

// startGatewarden starts `gatewarden serve` (binary) against the
// framework's control plane with the flags and environment the framework
// gives its own process, on other loopback ports, plus extra. Its log is
// state/<name>-<webhook port>.log, beside the framework's gatewarden.log.
func startGatewarden(ctx context.Context, name, binary, state string, c *framework.Cluster, extra ...string) (*proc, error) {
	var ports [4]int
	for i := range ports {
		port, err := framework.FreePort()
		if err != nil {
			return nil, err
		}
		ports[i] = port
	}
	p := &proc{name: name, url: fmt.Sprintf("https://127.0.0.1:%d", ports[0]),
		metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[2]), pprof: fmt.Sprintf("http://127.0.0.1:%d", ports[3])}
	probe := fmt.Sprintf("127.0.0.1:%d", ports[1])
	args := append([]string{"serve",
		"--kubeconfig", c.Kubeconfig,
		"--host", "127.0.0.1", "--port", strconv.Itoa(ports[0]),
		"--cert-dir", c.PKI.CertDir,
		"--health-probe-bind-address", probe,
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", ports[2]),
		"--allow-cidr", "127.0.0.0/8", "--ca-file", c.PKI.CAFile,
		"--secret-namespaces", "istio-system,kyma-system",
		"--shutdown-delay", "1s",
	}, extra...)
	var err error
	if p.log, err = os.OpenFile(filepath.Join(state, fmt.Sprintf("%s-%d.log", name, ports[0])), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600); err != nil {
		return nil, err
	}
	for i, a := range args {
		args[i] = strings.ReplaceAll(a, "{pprof}", fmt.Sprintf("127.0.0.1:%d", ports[3]))
	}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Env = append(os.Environ(), c.GatewardenEnv...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	p.done = make(chan error, 1)
	go func() { p.done <- p.cmd.Wait() }()
	deadline := time.Now().Add(90 * time.Second)
	for {
		select {
		case err := <-p.done:
			p.cmd = nil
			return nil, fmt.Errorf("%s exited: %v (see %s)", name, err, p.log.Name())
		default:
		}
		if resp, err := http.Get("http://" + probe + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				logf("%s ready on %s (pid %d, log %s)", name, p.url, p.cmd.Process.Pid, p.log.Name())
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("%s not ready after 90s (see %s)", name, p.log.Name())
		}
		select {
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (p *proc) pid() int {
	if p == nil || p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// stop ends the process: SIGTERM, then SIGKILL after 15s.
func (p *proc) stop() {
	if p == nil {
		return
	}
	if p.cmd != nil && p.cmd.Process != nil {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		p.cmd = nil
	}
	if p.log != nil {
		p.log.Close()
		p.log = nil
	}
}

// memory is a process's resident size now and at its peak, from
// /proc/<pid>/status.
type memory struct{ rss, hwm int64 }

func (m memory) String() string {
	return fmt.Sprintf("resident %s (peak %s)", mib(m.rss), mib(m.hwm))
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func readMemory(pid int) (memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, err
	}
	var m memory
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) < 1 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			m.rss = n << 10
		case "VmHWM":
			m.hwm = n << 10
		}
	}
	if m.rss == 0 {
		return m, errors.New("no VmRSS")
	}
	return m, nil
}

// scrape reads the samples of a Prometheus text endpoint whose names start
// with any of prefixes: metric line (name and labels) to value.
func scrape(url string, prefixes ...string) (map[string]float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return samples(resp.Body, prefixes...)
}

// samples parses Prometheus text, keeping the samples whose names start
// with any of prefixes.
func samples(r io.Reader, prefixes ...string) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(line, p) }) {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

// get fetches url into file.
func get(ctx context.Context, url, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d", url, resp.StatusCode)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// cpuSeconds is the CPU time (user and system) a process has used, from
// /proc/<pid>/stat; pid 0 is this process.
func cpuSeconds(pid int) float64 {
	path := "/proc/self/stat"
	if pid > 0 {
		path = fmt.Sprintf("/proc/%d/stat", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; the fields after it do not.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ
}
