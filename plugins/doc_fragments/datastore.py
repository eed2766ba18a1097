# Copyright: k8snet.calico contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The connection options of the modules that talk to a Calico datastore (as calicoctl does)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    DOCUMENTATION = r"""
options:
  datastore:
    description:
      - The Calico datastore, C(kubernetes) (the Kubernetes API, Calico's CRDs) or C(etcdv3).
      - Resolved as calicoctl resolves it. Precedence, highest first - this option; the config file
        O(config_file) when it exists; the environment variables C(CALICO_DATASTORE_TYPE) then
        C(DATASTORE_TYPE); a default.
      - As in calicoctl, the environment is not read at all when the config file exists (calicoctl
        never merges the two); the options override the file or the environment field by field.
      - When not set anywhere, C(etcdv3) if etcd endpoints are set, else C(kubernetes). When
        not set as an option, but the options name only etcd settings (O(etcd_endpoints), ...) or
        only Kubernetes ones (O(kubeconfig), O(context)), the datastore they belong to is used.
    type: str
    choices: [kubernetes, etcdv3]
  config_file:
    description:
      - calicoctl's config file, a C(CalicoAPIConfig) document of C(apiVersion) C(projectcalico.org/v3)
        whose C(spec) holds C(datastoreType), C(kubeconfig), C(k8sCurrentContext),
        C(k8sAPIEndpoint), C(etcdEndpoints), C(etcdCACertFile), C(etcdCertFile), C(etcdKeyFile),
        C(etcdUsername), C(etcdPassword), the inline C(etcdCACert), C(etcdCert), C(etcdKey),
        C(kubeconfigInline), ... It is read strictly, like calicoctl reads it (unknown fields are
        errors).
      - When not set, C(/etc/calico/calicoctl.cfg) is read if it exists, else the environment.
        A file named here must exist.
      - The file is read on the host that runs the module.
    type: path
  kubeconfig:
    description:
      - Path of the kubeconfig for the C(kubernetes) datastore; several paths separated by C(:)
        are merged as C(KUBECONFIG) does.
      - Else C(kubeconfig) (or C(kubeconfigInline)) of the config file, else the environment
        variables C(CALICO_KUBECONFIG) then C(KUBECONFIG), else C(~/.kube/config) when it exists,
        else the in-cluster service account (when the module runs in a pod).
      - C(K8S_API_ENDPOINT), C(K8S_CA_FILE), C(K8S_CERT_FILE), C(K8S_KEY_FILE) and
        C(K8S_INSECURE_SKIP_TLS_VERIFY) (and their C(k8s*) fields in the config file) override
        the kubeconfig, as in calicoctl.
    type: path
  context:
    description:
      - The kubeconfig context to use instead of its current context.
      - Else C(k8sCurrentContext) of the config file, else C(CALICO_K8S_CURRENT_CONTEXT) then
        C(K8S_CURRENT_CONTEXT) (what C(calicoctl --context) sets).
      - Unlike C(calicoctl --context), this option also applies when the config file is used.
    type: str
  etcd_endpoints:
    description:
      - The etcd client URLs for the C(etcdv3) datastore, a list or a comma-separated string
        (C(https://10.0.0.1:2379,https://10.0.0.2:2379)). The next endpoint is tried when one
        does not answer. An endpoint without scheme gets C(https://) when TLS files are set,
        C(http://) otherwise.
      - Else C(etcdEndpoints) of the config file, else C(CALICO_ETCD_ENDPOINTS) then
        C(ETCD_ENDPOINTS).
      - DNS SRV discovery (C(ETCD_DISCOVERY_SRV)) is not supported.
    type: list
    elements: str
  etcd_ca_cert:
    description:
      - Path of the CA certificate that signed the etcd server certificates. Without it, the
        system's trusted CAs are used for C(https) endpoints.
      - Else C(etcdCACertFile) of the config file, else C(CALICO_ETCD_CA_CERT_FILE) then
        C(ETCD_CA_CERT_FILE).
    type: path
  etcd_cert:
    description:
      - Path of the client certificate presented to etcd; needs O(etcd_key).
      - Else C(etcdCertFile) of the config file, else C(CALICO_ETCD_CERT_FILE) then
        C(ETCD_CERT_FILE).
    type: path
  etcd_key:
    description:
      - Path of the private key of O(etcd_cert).
      - The key is a secret; this option is only its path, which appears in errors. The key's
        content is never logged nor returned. Keep the file readable only by the user that runs
        the module.
      - Else C(etcdKeyFile) of the config file, else C(CALICO_ETCD_KEY_FILE) then
        C(ETCD_KEY_FILE).
    type: path
  etcd_username:
    description:
      - User for etcd authentication (used only together with O(etcd_password), as calicoctl does).
      - Else C(etcdUsername) of the config file, else C(CALICO_ETCD_USERNAME) then C(ETCD_USERNAME).
    type: str
  etcd_password:
    description:
      - Password of O(etcd_username). A secret - marked C(no_log), never logged nor returned; prefer
        an Ansible Vault variable or the C(ETCD_PASSWORD) environment variable.
      - Else C(etcdPassword) of the config file, else C(CALICO_ETCD_PASSWORD) then C(ETCD_PASSWORD).
    type: str
  api:
    description:
      - Kubernetes datastore only. Which API holds Calico resources.
      - C(auto) asks the API once whether a Calico API server serves C(projectcalico.org/v3) and then
        uses it for the kinds it serves; otherwise the C(crd.projectcalico.org/v1) objects that calicoctl
        writes. C(crd) and C(projectcalico.org/v3) choose without asking.
      - A Calico Node is always read and patched on its Kubernetes Node.
    type: str
    choices: [auto, crd, projectcalico.org/v3]
    default: auto
notes:
  - The connection settings are resolved as calicoctl v3.31 resolves them
    (C(libcalico-go/lib/apiconfig/load.go)); each environment variable is read first with the
    C(CALICO_) prefix, then without. C(CALICO_K8SAPITOKEN) (or C(k8sAPIToken) in the config file)
    gives a bearer token. Nothing of the connection settings but the datastore, the endpoints and
    file paths is ever returned or logged.
requirements:
  - kubernetes >= 28.1.0 (Python library, for the C(kubernetes) datastore)
  - requests (Python library, for the C(etcdv3) datastore)
  - PyYAML
"""
