"""Published signature examples the tests hold every signer to."""

import hashlib

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

# Aliyun POP V3: the worked example of Alibaba Cloud's "V3 request structure and signature"
# page (POST RunInstances, AccessKey YourAccessKeyId / YourAccessKeySecret, empty body); the
# page prints this Authorization header.
V3_DOC_QUERY = {"ImageId": "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd", "RegionId": "cn-shanghai"}
V3_DOC_HEADERS = {"host": "ecs.cn-shanghai.aliyuncs.com", "x-acs-action": "RunInstances",
                  "x-acs-content-sha256": EMPTY_SHA256, "x-acs-date": "2023-10-26T09:01:01Z",
                  "x-acs-signature-nonce": "d410180a5abf7fe235dd9b74aca91fc0", "x-acs-version": "2014-05-26"}
V3_DOC_KEY = ("YourAccessKeyId", "YourAccessKeySecret")
V3_DOC_AUTHORIZATION = (
    "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;x-acs-content-sha256;"
    "x-acs-date;x-acs-signature-nonce;x-acs-version,"
    "Signature=e521358f7776c97df52e6b2891a8bc73026794a071b50c3323388c4e0df64804")
