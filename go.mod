module github.com/zkgo/zk

go 1.25
