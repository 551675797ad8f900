module github.com/claimtrail/claimtrail

go 1.26.0
