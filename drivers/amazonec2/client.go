package amazonec2

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/docker-machine-ng/machine/libmachine/httplog"
	"github.com/docker-machine-ng/machine/version"
)

// Tunables; tests shorten them.
var (
	// requestTimeout bounds one HTTP request (one attempt).
	requestTimeout = 60 * time.Second
	// maxBackoff caps the SDK's back-off between attempts.
	maxBackoff = 20 * time.Second
	// pollFirst and pollMax bound the interval between polls.
	pollFirst = 250 * time.Millisecond
	pollMax   = 5 * time.Second
)

// baseEndpoint is --amazonec2-endpoint as a URL: a bare host gets
// https:// (http:// with --amazonec2-insecure-transport).
func (d *Driver) baseEndpoint() (string, error) {
	e := d.Endpoint
	if !strings.Contains(e, "://") {
		if d.DisableSSL {
			e = "http://" + e
		} else {
			e = "https://" + e
		}
	}
	u, err := url.Parse(e)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("--amazonec2-endpoint %q is not a host name or an http(s) URL", d.Endpoint)
	}
	if u.User != nil {
		return "", errors.New("--amazonec2-endpoint must not carry credentials; give them with --amazonec2-access-key/--amazonec2-secret-key or the AWS credential chain")
	}
	if d.DisableSSL && u.Scheme == "https" {
		u.Scheme = "http"
	}
	return u.String(), nil
}

// awsConfig loads the configuration: static credentials when the flags
// (or the machine directory) give them, else the standard chain
// (environment, shared config and credentials files and their profiles,
// SSO, an instance role).
func (d *Driver) awsConfig(ctx context.Context) (aws.Config, error) {
	d.loadCredentials()
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(d.Region),
		config.WithAppID("docker-machine-" + version.Version),
	}
	if d.RetryCount < 0 {
		opts = append(opts, config.WithRetryer(func() aws.Retryer { return aws.NopRetryer{} }))
	} else {
		attempts := d.RetryCount + 1
		opts = append(opts, config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = attempts
				o.MaxBackoff = maxBackoff
				// Hundreds of machines per day share one process
				// in no case; the token bucket only refuses retries.
				o.RateLimiter = ratelimit.None
			})
		}))
	}
	d.mu.Lock()
	ak, sk, st := d.AccessKey, d.SecretKey, d.SessionToken
	d.mu.Unlock()
	if ak != "" && sk != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(ak, sk, st)))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return cfg, err
	}
	// The SDK's client carries a custom CA bundle (AWS_CA_BUNDLE) in
	// its transport: keep that transport, trace its requests, bound
	// each one.
	var tr *http.Transport
	if bc, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok {
		tr = bc.GetTransport()
	} else {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	cfg.HTTPClient = &http.Client{Transport: httplog.Transport(tr), Timeout: requestTimeout}
	return cfg, nil
}

// client returns an EC2 client of the driver's region and endpoint.
func (d *Driver) client(ctx context.Context) (*ec2.Client, error) {
	cfg, err := d.awsConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading the AWS configuration: %w", err)
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return nil, errorMissingCredentials
	}
	var endpoint string
	if d.Endpoint != "" {
		if endpoint, err = d.baseEndpoint(); err != nil {
			return nil, err
		}
	}
	return ec2.NewFromConfig(cfg, func(o *ec2.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}), nil
}

// credentialsKey identifies the account a client speaks for, for
// batching (kept in memory only).
func (d *Driver) credentialsKey(ctx context.Context) (string, error) {
	cfg, err := d.awsConfig(ctx)
	if err != nil {
		return "", err
	}
	c, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return "", errorMissingCredentials
	}
	return c.AccessKeyID + "\x00" + c.SecretAccessKey + "\x00" + c.SessionToken, nil
}

// code returns the EC2 error code of err, or "".
func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// defaultVPC reads the account's default-vpc attribute.
func defaultVPC(ctx context.Context, c *ec2.Client) (string, error) {
	out, err := c.DescribeAccountAttributes(ctx, &ec2.DescribeAccountAttributesInput{})
	if err != nil {
		return "", err
	}
	for _, a := range out.AccountAttributes {
		if aws.ToString(a.AttributeName) != "default-vpc" {
			continue
		}
		if len(a.AttributeValues) == 0 {
			return "", errors.New("the default-vpc attribute has no value")
		}
		v := aws.ToString(a.AttributeValues[0].AttributeValue)
		if v == "none" || v == "" {
			return "", errors.New("default-vpc is 'none'")
		}
		return v, nil
	}
	return "", errors.New("No default-vpc attribute")
}

// checkSubnet checks that the subnet is in the VPC.
func checkSubnet(ctx context.Context, c *ec2.Client, subnet, vpc string) error {
	out, err := c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{
		Filters: []types.Filter{{Name: aws.String("subnet-id"), Values: []string{subnet}}},
	})
	if err != nil {
		return err
	}
	if len(out.Subnets) == 0 {
		return errorNoSubnetsFound
	}
	if got := aws.ToString(out.Subnets[0].VpcId); got != vpc {
		return fmt.Errorf("SubnetId: %s does not belong to VpcId: %s", subnet, vpc)
	}
	return nil
}

// poll calls f with back-off until it reports done, bounded by the
// wait timeout and ctx; what names the wait in the timeout's error.
func (d *Driver) poll(ctx context.Context, what string, f func(ctx context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeoutCause(ctx, d.waitTimeout(),
		fmt.Errorf("%s: not done within %s (--amazonec2-wait-timeout)", what, d.waitTimeout()))
	defer cancel()
	delay := pollFirst
	for {
		done, err := f(ctx)
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		case <-t.C:
		}
		delay = min(delay*2, pollMax)
	}
}
