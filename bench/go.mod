module github.com/zkgo/zk/bench

go 1.25

require (
	github.com/go-zookeeper/zk v1.0.4
	github.com/zkgo/zk v0.0.0
)

require github.com/cenkalti/backoff/v4 v4.3.0 // indirect

replace github.com/zkgo/zk => ../
