// Package natsqueue is the NATS JetStream backend of package queue.
package natsqueue
