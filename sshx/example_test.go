package sshx_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/hpcorch/hpcorch/sshx"
)

func ExampleQuote() {
	name := "my job's $name"
	fmt.Println("squeue --me -h -n " + sshx.Quote(name))
	fmt.Println(sshx.QuoteAll("printf", "%s\n", "a b"))
	// Output:
	// squeue --me -h -n 'my job'\''s $name'
	// printf '%s
	// ' 'a b'
}

func ExampleDial() {
	ctx := context.Background()
	cfg, err := sshx.ConfigFromSSHConfig("cluster", "") // Host cluster in ~/.ssh/config
	if err != nil {
		log.Fatal(err)
	}
	c, err := sshx.Dial(ctx, cfg)
	var hk *sshx.HostKeyError
	if errors.As(err, &hk) {
		log.Fatal(hk) // says which known_hosts file and line to fix
	}
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	out, _, err := c.Run(ctx, "hostname", nil)
	var xe *sshx.ExitError
	if errors.As(err, &xe) {
		log.Fatalf("exit %d: %s", xe.Code, xe.Stderr)
	}
	fmt.Printf("%s", out)
}

func ExampleLocal() {
	var l sshx.Local
	out, _, err := l.Run(context.Background(), "echo "+sshx.Quote("hello world"), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s", out)
	// Output: hello world
}
