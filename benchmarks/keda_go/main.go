// Command keda-go is the Go half of benchmarks/scaler_load.py, on KEDA's own gRPC stack
// (grpc-go). `keda-go play` plays KEDA against an ExternalScaler, so the benchmark's latencies
// are not inflated by a Python client's event loop and collector; `keda-go serve-constants
// -addr HOST:PORT` is an ExternalScaler that answers constants, the floor of a gRPC server
// on this machine without Python (compare benchmarks/floor_scaler.py, the grpc.aio one).
//
// `play` makes the calls simulations/keda/client.py makes, in the same order:
//
//   - a push stream (StreamIsActive) per ScaledObject, opened at once and held;
//   - `-streams-ahead-s` later, per ScaledObject, a polling loop every 30 s (GetMetricSpec,
//     then GetMetrics per spec and IsActive, that pair retried once on error) and an HPA loop
//     every 15 s (the same sequence under one 3 s deadline), each started at a seeded random
//     offset within its period, for `-duration-s`.
//
// Every unary call's latency and status code is written to stdout as JSON, and so is every
// push stream's outcome (under StreamIsActive, with no latency): OK when it was held until
// the end or the server ended it with OK, else the code it failed or could not open with:
//
//	{"latencies_s": {"GetMetrics": [0.0012, ...], ...},
//	 "codes": [["GetMetrics", "OK", 5995], ["StreamIsActive", "OK", 1000], ...],
//	 "errors": [["GetMetrics", "Unavailable", "details"], ...]}
//
// Messages are encoded by hand with protowire: the five messages are tiny, and it spares a
// second set of generated stubs. Built by `make keda-go`.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
)

const (
	service       = "/externalscaler.ExternalScaler/"
	pollingPeriod = 30 * time.Second
	hpaPeriod     = 15 * time.Second
	hpaDeadline   = 3 * time.Second
	streamRetry   = 2 * time.Second
)

// rawCodec passes already-encoded protobuf bytes through gRPC unchanged.
type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string   { return "proto" }
func (rawCodec) String() string { return "proto" } // grpc.CustomCodec's older interface

func scaledObjectRef(name, namespace string, metadata map[string]string) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, name)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendString(b, namespace)
	for key, value := range metadata {
		var entry []byte
		entry = protowire.AppendTag(entry, 1, protowire.BytesType)
		entry = protowire.AppendString(entry, key)
		entry = protowire.AppendTag(entry, 2, protowire.BytesType)
		entry = protowire.AppendString(entry, value)
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendBytes(b, entry)
	}
	return b
}

func getMetricsRequest(ref []byte, metricName string) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendBytes(b, ref)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendString(b, metricName)
}

// lengthDelimited returns the payloads of every length-delimited field `number` in msg.
func lengthDelimited(msg []byte, number protowire.Number) ([][]byte, error) {
	var found [][]byte
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		msg = msg[n:]
		if num == number && typ == protowire.BytesType {
			value, m := protowire.ConsumeBytes(msg)
			if m < 0 {
				return nil, protowire.ParseError(m)
			}
			found = append(found, value)
			msg = msg[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, msg)
		if m < 0 {
			return nil, protowire.ParseError(m)
		}
		msg = msg[m:]
	}
	return found, nil
}

// metricNames reads the metricName of each MetricSpec in a GetMetricSpecResponse.
func metricNames(response []byte) ([]string, error) {
	specs, err := lengthDelimited(response, 1)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(specs))
	for _, spec := range specs {
		name, err := lengthDelimited(spec, 1)
		if err != nil {
			return nil, err
		}
		if len(name) == 0 {
			names = append(names, "")
		} else {
			names = append(names, string(name[0]))
		}
	}
	return names, nil
}

type callLog struct {
	mu        sync.Mutex
	latencies map[string][]float64
	codes     map[[2]string]int
	errors    [][3]string
}

func (l *callLog) record(method string, started time.Time, err error) {
	elapsed := time.Since(started).Seconds()
	code := status.Code(err).String()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.latencies[method] = append(l.latencies[method], elapsed)
	l.codes[[2]string{method, code}]++
	if err != nil {
		l.errors = append(l.errors, [3]string{method, code, status.Convert(err).Message()})
	}
}

// recordStream counts a push stream's outcome: nil (OK) or the error it ended with.
func (l *callLog) recordStream(err error) {
	code := status.Code(err).String()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.codes[[2]string{"StreamIsActive", code}]++
	if err != nil {
		l.errors = append(l.errors, [3]string{"StreamIsActive", code, status.Convert(err).Message()})
	}
}

type client struct {
	conn *grpc.ClientConn
	log  *callLog
}

func (c *client) call(ctx context.Context, method string, request []byte) ([]byte, error) {
	var reply []byte
	started := time.Now()
	err := c.conn.Invoke(ctx, service+method, &request, &reply, grpc.ForceCodec(rawCodec{}))
	c.log.record(method, started, err)
	return reply, err
}

// metricsAndActivity is GetMetrics per spec, then IsActive.
func (c *client) metricsAndActivity(ctx context.Context, ref []byte, names []string) error {
	for _, name := range names {
		if _, err := c.call(ctx, "GetMetrics", getMetricsRequest(ref, name)); err != nil {
			return err
		}
	}
	_, err := c.call(ctx, "IsActive", ref)
	return err
}

// metricSpec calls GetMetricSpec and reads its metric names; false when that failed.
func (c *client) metricSpec(ctx context.Context, ref []byte) ([]string, bool) {
	reply, err := c.call(ctx, "GetMetricSpec", ref)
	if err != nil {
		return nil, false
	}
	names, err := metricNames(reply)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bad GetMetricSpecResponse:", err)
		return nil, false
	}
	return names, true
}

func (c *client) pollOnce(ctx context.Context, ref []byte) {
	names, ok := c.metricSpec(ctx, ref)
	if !ok {
		return
	}
	for attempt := 0; attempt < 2; attempt++ { // KEDA retries the pair once
		if c.metricsAndActivity(ctx, ref, names) == nil {
			return
		}
	}
}

func (c *client) hpaOnce(ctx context.Context, ref []byte) {
	ctx, cancel := context.WithTimeout(ctx, hpaDeadline)
	defer cancel()
	if names, ok := c.metricSpec(ctx, ref); ok {
		_ = c.metricsAndActivity(ctx, ref, names)
	}
}

// every runs round at `offset`, then every `period`, until ctx ends.
func every(ctx context.Context, offset, period time.Duration, round func()) {
	timer := time.NewTimer(offset)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		round()
		timer.Reset(period)
	}
}

// pushStream holds a StreamIsActive open, reopening it 2 s after it ends, until ctx ends.
func (c *client) pushStream(ctx context.Context, ref []byte) {
	desc := &grpc.StreamDesc{StreamName: "StreamIsActive", ServerStreams: true}
	for ctx.Err() == nil {
		stream, err := c.conn.NewStream(ctx, desc, service+"StreamIsActive",
			grpc.ForceCodec(rawCodec{}))
		if err == nil {
			request := ref
			if err = stream.SendMsg(&request); err == nil {
				err = stream.CloseSend()
			}
			for err == nil {
				var message []byte
				err = stream.RecvMsg(&message)
			}
		}
		switch {
		case ctx.Err() != nil, err == io.EOF: // held until the end, or ended by the server with OK
			c.log.recordStream(nil)
		default: // it failed, or could not be opened: an error, whatever the code
			c.log.recordStream(err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(streamRetry):
		}
	}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: keda-go play|serve-constants [flags]")
		os.Exit(2)
	}
	switch mode, args := os.Args[1], os.Args[2:]; mode {
	case "play":
		play(args)
	case "serve-constants":
		serveConstants(args)
	default:
		fmt.Fprintf(os.Stderr, "keda-go: unknown mode %q (play, serve-constants)\n", mode)
		os.Exit(2)
	}
}

// constantReplies are the encoded answers of serve-constants, by full method name.
func constantReplies() map[string][]byte {
	var spec, specs, value, values, active []byte
	spec = protowire.AppendTag(spec, 1, protowire.BytesType)
	spec = protowire.AppendString(spec, "desired-replicas")
	spec = protowire.AppendTag(spec, 2, protowire.VarintType)
	spec = protowire.AppendVarint(spec, 1)
	specs = protowire.AppendTag(specs, 1, protowire.BytesType)
	specs = protowire.AppendBytes(specs, spec)
	value = protowire.AppendTag(value, 2, protowire.VarintType)
	value = protowire.AppendVarint(value, 2)
	values = protowire.AppendTag(values, 1, protowire.BytesType)
	values = protowire.AppendBytes(values, value)
	active = protowire.AppendTag(active, 1, protowire.VarintType)
	active = protowire.AppendVarint(active, 1)
	return map[string][]byte{
		service + "GetMetricSpec":  specs,
		service + "GetMetrics":     values,
		service + "IsActive":       active,
		service + "StreamIsActive": active,
	}
}

func serveConstants(args []string) {
	flags := flag.NewFlagSet("serve-constants", flag.ExitOnError)
	addr := flags.String("addr", "127.0.0.1:9090", "address to listen on")
	_ = flags.Parse(args)
	replies := constantReplies()
	handler := func(_ interface{}, stream grpc.ServerStream) error {
		method, _ := grpc.MethodFromServerStream(stream)
		reply, known := replies[method]
		if !known {
			return status.Errorf(codes.Unimplemented, "unknown method %s", method)
		}
		var request []byte
		if err := stream.RecvMsg(&request); err != nil {
			return err
		}
		if err := stream.SendMsg(&reply); err != nil {
			return err
		}
		if method == service+"StreamIsActive" {
			<-stream.Context().Done() // held open, as a scaler holds its streams
		}
		return nil
	}
	listener, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
	server := grpc.NewServer(grpc.CustomCodec(rawCodec{}), grpc.UnknownServiceHandler(handler))
	if err := server.Serve(listener); err != nil {
		fmt.Fprintln(os.Stderr, "serve:", err)
		os.Exit(1)
	}
}

func play(args []string) {
	flags := flag.NewFlagSet("play", flag.ExitOnError)
	addr := flags.String("addr", "127.0.0.1:9090", "the scaler's gRPC address")
	first := flags.Int("first", 0, "index of the first ScaledObject (so-NNNN / model-NNNN)")
	count := flags.Int("count", 1000, "ScaledObjects to play")
	durationS := flags.Float64("duration-s", 60, "seconds both loops run")
	streamsAheadS := flags.Float64("streams-ahead-s", 0, "seconds the streams are open alone first")
	streams := flags.Bool("streams", true, "hold a StreamIsActive per ScaledObject")
	seed := flags.Int64("seed", 0, "seed of the loops' start offsets")
	_ = flags.Parse(args)

	conn, err := grpc.Dial(*addr, grpc.WithInsecure(), grpc.WithBlock())
	if err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		os.Exit(1)
	}
	defer conn.Close()
	c := &client{conn: conn, log: &callLog{
		latencies: map[string][]float64{}, codes: map[[2]string]int{},
	}}
	refs := make([][]byte, *count)
	for i := range refs {
		index := *first + i
		refs[i] = scaledObjectRef(fmt.Sprintf("so-%04d", index), "bench", map[string]string{
			"model": fmt.Sprintf("model-%04d", index), "scalerAddress": "prewarm:9090",
		})
	}

	streamsCtx, closeStreams := context.WithCancel(context.Background())
	var streamsDone sync.WaitGroup
	if *streams {
		for _, ref := range refs {
			streamsDone.Add(1)
			go func(ref []byte) { defer streamsDone.Done(); c.pushStream(streamsCtx, ref) }(ref)
		}
	}
	time.Sleep(time.Duration(*streamsAheadS * float64(time.Second)))

	rng := rand.New(rand.NewSource(*seed + int64(*first)))
	loopsCtx, stopLoops := context.WithTimeout(context.Background(),
		time.Duration(*durationS*float64(time.Second)))
	defer stopLoops()
	// A round under way when the loops stop finishes: its calls are not cancelled.
	calls := context.Background()
	var loopsDone sync.WaitGroup
	for _, ref := range refs {
		pollingOffset := time.Duration(rng.Float64() * float64(pollingPeriod))
		hpaOffset := time.Duration(rng.Float64() * float64(hpaPeriod))
		loopsDone.Add(2)
		go func(ref []byte) {
			defer loopsDone.Done()
			every(loopsCtx, pollingOffset, pollingPeriod, func() { c.pollOnce(calls, ref) })
		}(ref)
		go func(ref []byte) {
			defer loopsDone.Done()
			every(loopsCtx, hpaOffset, hpaPeriod, func() { c.hpaOnce(calls, ref) })
		}(ref)
	}
	loopsDone.Wait()
	closeStreams()
	streamsDone.Wait()

	codes := make([][3]interface{}, 0, len(c.log.codes))
	for key, n := range c.log.codes {
		codes = append(codes, [3]interface{}{key[0], key[1], n})
	}
	errors := c.log.errors
	if errors == nil {
		errors = [][3]string{}
	}
	out := map[string]interface{}{"latencies_s": c.log.latencies, "codes": codes, "errors": errors}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "write:", err)
		os.Exit(1)
	}
}
