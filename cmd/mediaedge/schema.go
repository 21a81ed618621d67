package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/mediaedge/mediaedge/chunkstore/cassandra"
	"github.com/mediaedge/mediaedge/schema"
)

func init() { subcommands = append(subcommands, newSchemaCmd) }

func newSchemaCmd() *cobra.Command {
	ccfg := cassandra.DefaultConfig()
	scfg := schema.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "schema apply|print",
		Short: "Create or print the Cassandra keyspace and tables",
	}
	flags := func(c *cobra.Command) {
		c.Flags().StringSliceVar(&ccfg.Hosts, "cassandra-hosts", ccfg.Hosts, "Cassandra contact points")
		c.Flags().StringVar(&scfg.Keyspace, "cassandra-keyspace", scfg.Keyspace, "keyspace to create")
		c.Flags().IntVar(&scfg.RF, "rf", scfg.RF, "replication factor")
		c.Flags().StringVar(&scfg.Class, "replication-class", scfg.Class, "SimpleStrategy or NetworkTopologyStrategy")
		c.Flags().StringVar(&scfg.DC, "dc", scfg.DC, "data centre name for NetworkTopologyStrategy")
		c.Flags().StringVar(&ccfg.Username, "cassandra-username", "", "user for PasswordAuthenticator")
		c.Flags().StringVar(&ccfg.Password, "cassandra-password", "", "password for PasswordAuthenticator")
	}
	apply := &cobra.Command{
		Use:   "apply",
		Short: "Apply the migrations not yet applied (idempotent)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Minute)
			defer cancel()
			c := ccfg
			c.Keyspace = "" // the keyspace may not exist yet
			s, err := cassandra.NewSession(c)
			if err != nil {
				return err
			}
			defer s.Close()
			applied, err := schema.Apply(ctx, s, scfg)
			for _, a := range applied {
				fmt.Fprintln(cmd.OutOrStdout(), "applied", a)
			}
			if err != nil {
				return err
			}
			if len(applied) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "keyspace %s is up to date; nothing applied\n", scfg.Keyspace)
			}
			return nil
		},
	}
	print := &cobra.Command{
		Use:   "print",
		Short: "Print the schema as CQL",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := schema.Print(scfg)
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), out)
			return nil
		},
	}
	flags(apply)
	flags(print)
	cmd.AddCommand(apply, print)
	return cmd
}
